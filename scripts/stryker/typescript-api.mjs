// Loaded into Stryker's TypeScript checker process (`checkerNodeArgs` in stryker.config.json).
// The project compiles with typescript 7, the native compiler, which has no JavaScript API; the
// checker needs one, so its `import 'typescript'` is pointed at typescript 5.9, installed under
// the name `typescript-api`. Nothing else in the project sees the redirect.
import { register } from 'node:module';

register('./typescript-api-hooks.mjs', import.meta.url);

// Resolve hook for scripts/stryker/typescript-api.mjs: `typescript` imported by a Stryker package
// resolves to the `typescript-api` package (typescript 5.9, which has the compiler API).
export async function resolve(specifier, context, next) {
  if (specifier === 'typescript' && context.parentURL?.includes('/@stryker-mutator/')) {
    return next('typescript-api', context);
  }
  return next(specifier, context);
}

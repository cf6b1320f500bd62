#!/usr/bin/env node
// The `actor-raft` command: runs src/cli/main.ts through tsx's ESM loader, resolved from this
// package (so it works from any working directory), in this same process.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);

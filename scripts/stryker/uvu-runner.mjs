// A Stryker test runner for uvu suites, run in-process so that a mutant costs only the time of
// the suites that reach it (the command runner would pay a process start and a TypeScript load
// per mutant). Each suite file is one Stryker "test": coverage is recorded per file, and a mutant
// runs only the files that executed its code. The files come from `uvuRunner.files` in
// stryker.config.json; the worker process loads tsx through `testRunnerNodeArgs`.
//
// uvu registers a suite when its file is evaluated, so every run imports the files again under a
// fresh query string; the sources under test stay loaded, and mutant switching (the instrumented
// code reads the active mutant on every call) selects the mutant. A mutant in code that runs at
// load time is "static": Stryker restarts this worker for it, and the mutant is activated before
// the first import.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { commonTokens, declareClassPlugin, PluginKind, tokens } from '@stryker-mutator/api/plugin';
import { DryRunStatus, TestStatus, toMutantRunResult, determineHitLimitReached } from '@stryker-mutator/api/test-runner';
import { INSTRUMENTER_CONSTANTS as ID } from '@stryker-mutator/api/core';

const ns = () => (globalThis[ID.NAMESPACE] ??= {});
let generation = 0;

class UvuTestRunner {
  static inject = tokens(commonTokens.options);

  constructor(options) {
    this.files = options.uvuRunner?.files ?? [];
    if (this.files.length === 0) throw new Error('uvuRunner.files lists no suite files');
  }

  capabilities() {
    return { reloadEnvironment: false };
  }

  async init() {
    globalThis.UVU_DEFER = 1; // uvu must not start running suites on its own
    this.uvu = await import('uvu');
  }

  async dryRun(options) {
    const state = ns();
    state[ID.ACTIVE_MUTANT] = undefined;
    state[ID.HIT_COUNT] = undefined;
    const result = await this.run(this.files, false);
    if (result.status !== DryRunStatus.Complete) return result;
    if (options.coverageAnalysis !== 'off') result.mutantCoverage = state[ID.MUTATION_COVERAGE_OBJECT];
    return result;
  }

  async mutantRun(options) {
    const state = ns();
    state[ID.ACTIVE_MUTANT] = options.activeMutant.id;
    state[ID.HIT_LIMIT] = options.hitLimit;
    state[ID.HIT_COUNT] = options.hitLimit === undefined ? undefined : 0;
    const files = options.testFilter ? this.files.filter((f) => options.testFilter.includes(f)) : this.files;
    const result = await this.run(files, !options.disableBail);
    const timeout = determineHitLimitReached(state[ID.HIT_COUNT], state[ID.HIT_LIMIT]);
    state[ID.ACTIVE_MUTANT] = undefined;
    return toMutantRunResult(timeout ?? result);
  }

  /** Imports each file afresh, runs its suites, and reports one test result per file. */
  async run(files, bail) {
    const state = ns();
    const tests = [];
    generation += 1;
    for (const file of files) {
      globalThis.UVU_QUEUE = [[file]];
      globalThis.UVU_INDEX = 0;
      state[ID.CURRENT_TEST_ID] = file;
      const started = performance.now();
      let failure;
      try {
        await import(`${pathToFileURL(resolve(file)).href}?stryker=${generation}`);
        const [, ...suites] = globalThis.UVU_QUEUE[0];
        for (const suite of suites) {
          const [errors] = await suite();
          if (errors !== true) {
            failure = String(errors);
            break;
          }
        }
      } catch (err) {
        failure = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      } finally {
        state[ID.CURRENT_TEST_ID] = undefined;
      }
      const timeSpentMs = performance.now() - started;
      tests.push(failure === undefined
        ? { id: file, name: file, timeSpentMs, status: TestStatus.Success }
        : { id: file, name: file, timeSpentMs, status: TestStatus.Failed, failureMessage: failure });
      if (failure !== undefined && bail) break;
    }
    return { status: DryRunStatus.Complete, tests };
  }

  async dispose() {}
}

export const strykerPlugins = [declareClassPlugin(PluginKind.TestRunner, 'uvu', UvuTestRunner)];

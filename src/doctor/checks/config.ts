import { ConfigError, loadConfig, type Config } from '../../config.js';
import { fail, ok, type CheckResult } from '../types.js';

/** The configuration parses and validates; every problem is listed at once. */
export function checkConfig(env: NodeJS.ProcessEnv): { result: CheckResult; config: Readonly<Config> | null } {
  const name = 'configuration';
  try {
    const config = loadConfig(env);
    return { result: ok(name, `valid (CRM: ${config.crm.name}, public URL: ${config.publicUrl})`), config };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const list = error.problems.map((p) => `\n      - ${p}`).join('');
    return {
      result: fail(name, `${error.problems.length} problem(s):${list}`, 'correct the CRMSYNC_* environment variables listed above (see the README, "Configuration"); the other checks need a valid configuration'),
      config: null,
    };
  }
}

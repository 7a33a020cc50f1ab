import { ConfigError, loadConfig, type Config } from '../config.js';

/** The configuration from the environment, or every problem printed and exit code 2. */
export function configOrExit(): Readonly<Config> {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { serveCommand } from './serve.js';
import { sandboxCommand } from './sandbox.js';
import { doctorCommand } from './doctor.js';
import { rotateCommand } from './rotate.js';
import { importCommand } from './import.js';

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};

const program = new Command()
  .name('crmsync')
  .description('Keeps your application users in sync with your CRM, both ways.')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the service: webhook ingress, API, workers (configured by CRMSYNC_* environment variables)')
  .option('--sandbox-port <port>', 'port of the embedded sandbox CRM when CRMSYNC_CRM=sandbox', int('port'), 8788)
  .action(serveCommand);

program
  .command('sandbox')
  .description('run the sandbox CRM alone: a CRM-shaped HTTP server with a page to edit contacts')
  .option('--port <port>', 'port to listen on', int('port'), 8788)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--api-key <key>', 'API key clients must send (default: random)')
  .option('--rate-limit <n>', 'requests per second before 429 (0 = unlimited)', int('rate limit'), 5)
  .option('--latency <ms>', 'added to every API response', int('latency'), 0)
  .option('--webhook-url <url>', "crmsync's webhook URL to notify on changes (with wpf_action and access_key)")
  .option('--no-seed', 'start without demo contacts')
  .action(sandboxCommand);

program
  .command('doctor')
  .description('check the set-up: configuration, database, CRM credentials, the public webhook URL (the service must be running), clock skew')
  .option('--sandbox-port <port>', 'port of the sandbox CRM embedded in `crmsync serve` when CRMSYNC_CRM=sandbox', int('port'), 8788)
  .option('--timeout <seconds>', 'how long to wait for the public webhook URL', int('timeout'), 10)
  .action(doctorCommand);

program
  .command('rotate')
  .description('replace the webhook access key or the API token; the old value keeps working for a grace period')
  .argument('<what>', 'access-key or api-token', (value: string) => {
    if (value !== 'access-key' && value !== 'api-token') throw new InvalidArgumentError('must be access-key or api-token');
    return value;
  })
  .option('--grace-hours <hours>', 'how long the old value keeps working (default: CRMSYNC_ROTATION_GRACE_HOURS, 24)', int('grace'))
  .action(rotateCommand);

program
  .command('import')
  .description('import the CRM\'s contacts as users (resumable: run it again to continue); --list shows past imports, --undo ID rolls one back')
  .option('--tag <tag>', 'only contacts with this tag')
  .option('--update-existing', 'also update users that exist already (found by contact ID or e-mail); default: leave them alone')
  .option('--role <role>', 'role of the users created (one of CRMSYNC_ROLES, never a privileged one)')
  .option('--page-size <n>', 'contacts per CRM listing call (default: the CRM\'s largest page)', int('page size'))
  .option('--list', 'list past imports')
  .option('--undo <id>', 'roll back import ID: delete the users it created, restore what it overwrote', int('import id'))
  .option('--sandbox-port <port>', 'port of the sandbox CRM embedded in `crmsync serve` when CRMSYNC_CRM=sandbox', int('port'), 8788)
  .action(importCommand);

await program.parseAsync(process.argv);

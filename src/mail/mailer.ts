import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Db } from '../store/database.js';
import { insertMail, type MailState } from '../store/mail-outbox.js';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** Parts of the text (a set-password token) kept in the outbox only when SMTP did not deliver. */
  secrets?: readonly string[];
}

/**
 * Sends mail over SMTP when configured. Every message is also kept in the outbox table, so
 * without SMTP (or when SMTP fails) nothing is silently lost: the operator finds it there.
 */
export class Mailer {
  private readonly transport: nodemailer.Transporter | null;

  constructor(
    private readonly options: { smtpUrl: string | null; from: string; db: Db; clock: Clock; logger: Logger },
  ) {
    this.transport = options.smtpUrl ? nodemailer.createTransport(options.smtpUrl) : null;
  }

  get delivers(): boolean {
    return this.transport !== null;
  }

  async send(mail: Mail): Promise<{ state: MailState; id: number }> {
    let state: MailState = 'logged';
    let error: string | null = null;
    if (this.transport) {
      try {
        await this.transport.sendMail({ from: this.options.from, to: mail.to, subject: mail.subject, text: mail.text });
        state = 'sent';
      } catch (e) {
        state = 'failed';
        error = (e as Error).message;
      }
    }
    let kept = mail.text;
    if (state === 'sent') for (const secret of mail.secrets ?? []) kept = kept.split(secret).join('[delivered]');
    const id = await insertMail(this.options.db, { at: this.options.clock.now(), to: mail.to, subject: mail.subject, text: kept, state, error });
    // Without SMTP the outbox is the delivery: say so where the operator looks.
    if (state !== 'sent') this.options.logger.warn({ mailId: id, state }, `mail to ${mail.to} kept in the outbox (${state}); read it with GET /api/mail`);
    return { state, id };
  }

  close(): void {
    this.transport?.close();
  }
}

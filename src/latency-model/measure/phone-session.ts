/**
 * The session of a phone profiling `nas profile --serve`: the one-time token of its link, the
 * browser that claimed it, and the entries uploaded so far. It lives beside the table in
 * `<table>.session.json`, rewritten atomically at every upload, so a closed tab loses nothing
 * and a server killed and restarted with the same --out serves the same link and continues.
 *
 * The token (18 bytes from the operating system's cryptographic source, base64url) is in the
 * page's URL. The first browser that presents it (the page sends a random session id it keeps in
 * its localStorage) claims the session; from then on an upload needs the token and that session
 * id, so another phone or browser that got hold of the link is refused, while the claiming
 * page may be reloaded or reopened and resumes. Once the table is written the file is removed.
 */

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { z } from 'zod';
import { InputError } from '../../common/errors.js';
import { readJsonFile, writeJsonAtomic } from '../../common/json-io.js';
import { parseWith } from '../../common/validate.js';
import { type Entry, EntrySchema } from '../predict/table-schema.js';

export const PHONE_SESSION_VERSION = 1;

/** A page's session id: what the page draws with crypto.getRandomValues (hex). */
export const SessionIdSchema = z.string().regex(/^[0-9a-f]{32}$/, '32 hex digits');

/** What the claiming browser measured once, before the ops: kept so a reopened page continues at the same reference speed. */
export const PhoneDeviceSchema = z.strictObject({
  userAgent: z.string().max(1000),
  cores: z.int().min(0).max(1024),
  tfjsVersion: z.string().max(50),
  backend: z.string().max(50),
  dispatchMs: z.number().min(0),
  probeMs: z.number().positive(),
});
export type PhoneDevice = z.infer<typeof PhoneDeviceSchema>;

const PhoneSessionFileSchema = z.strictObject({
  schemaVersion: z.literal(PHONE_SESSION_VERSION),
  kind: z.literal('phone-profile-session'),
  token: z.string().regex(/^[\w-]{24}$/),
  /** The session id of the browser that claimed the token; null until one uploads. */
  claimedBy: SessionIdSchema.nullable(),
  device: PhoneDeviceSchema.nullable(),
  entries: z.record(z.string(), EntrySchema),
});
type PhoneSessionFile = z.infer<typeof PhoneSessionFileSchema>;

/** Why an upload is refused (answered 403), or null when it may go on. */
export type UploadRefusal = string | null;

/** The session file of a table: `tables/phone.json` -> `tables/phone.session.json`. */
export const sessionFileOf = (tableFile: string) => `${tableFile.replace(/\.json$/, '')}.session.json`;

export class PhoneSession {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    private readonly state: PhoneSessionFile,
    /** Whether the session was read from an earlier server's file. */
    readonly resumed: boolean,
  ) {}

  /**
   * The session of `file`: the earlier server's when the file exists (its ops must be ops of
   * this job), else a new one with a fresh token, written at once.
   */
  static async open(file: string, jobKeys: ReadonlySet<string>): Promise<PhoneSession> {
    if (existsSync(file)) {
      const state = parseWith(PhoneSessionFileSchema, readJsonFile(file), file);
      const foreign = Object.keys(state.entries).filter((key) => !jobKeys.has(key));
      if (foreign.length)
        throw new InputError(
          `${file} holds ${foreign.length} ops that are not in this job (e.g. ${foreign[0]}): it belongs to another profiling job; delete it or choose another --out`,
        );
      return new PhoneSession(file, state, true);
    }
    const state: PhoneSessionFile = {
      schemaVersion: PHONE_SESSION_VERSION,
      kind: 'phone-profile-session',
      token: randomBytes(18).toString('base64url'),
      claimedBy: null,
      device: null,
      entries: {},
    };
    const session = new PhoneSession(file, state, false);
    await session.save();
    return session;
  }

  get token(): string {
    return this.state.token;
  }

  get device(): PhoneDevice | null {
    return this.state.device;
  }

  get entries(): Readonly<Record<string, Entry>> {
    return this.state.entries;
  }

  /**
   * Checks an upload's token and session id; the first right token claims the session for its
   * session id (saved before the answer). The refusal says what to do.
   */
  async authorize(token: string | undefined, sessionId: string | undefined): Promise<UploadRefusal> {
    if (!token || !sameSecret(token, this.state.token))
      return 'this upload has no profiling token or a wrong one: open the exact link (with ?token=...) that nas profile --serve printed, or scan its QR code';
    if (!sessionId || !SessionIdSchema.safeParse(sessionId).success)
      return 'this upload has no session id: reload the page from the link nas profile --serve printed';
    if (this.state.claimedBy === null) {
      this.state.claimedBy = sessionId;
      await this.save();
    }
    if (this.state.claimedBy !== sessionId)
      return `this profiling link was already claimed by another device or browser: continue there, or stop the server, delete ${this.file} and start it again for a new link`;
    return null;
  }

  /** Adds uploaded entries (the device's first measurements are kept) and saves. */
  async addEntries(device: PhoneDevice, entries: Record<string, Entry>): Promise<void> {
    this.state.device ??= device;
    Object.assign(this.state.entries, entries);
    await this.save();
  }

  /** The table is written: the session is over. */
  async finish(): Promise<void> {
    await this.writing;
    await rm(this.file, { force: true });
  }

  /** Writes the current state; writes are queued so an older state never lands after a newer one. */
  private save(): Promise<void> {
    // A failed write fails its upload (answered 500) but not the ones after it.
    this.writing = this.writing.catch(() => undefined).then(() => writeJsonAtomic(this.file, this.state));
    return this.writing;
  }
}

/** Compares two secrets in time independent of where they differ. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

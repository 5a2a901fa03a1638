// The files channel for one session's workspace: list, read (bytes as binary frames),
// write with a precondition, upload in chunks, rename, delete, watch.

import type { Entry, FilesReply, Precondition } from "../protocol/protocol";
import type { Conn } from "./conn";

type R<T extends FilesReply["type"]> = Extract<FilesReply, { type: T }>;

export interface ReadResult {
  bytes: Uint8Array;
  info: R<"read">;
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const len = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(len);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export class Files {
  constructor(
    readonly conn: Conn,
    readonly root: string,
  ) {}

  private req<T extends FilesReply["type"]>(
    cmd: Record<string, unknown> & { type: string },
    bytes?: Uint8Array,
  ) {
    return this.conn.filesRequest<R<T>>(this.root, cmd, bytes);
  }

  async list(path: string, gitignore: boolean): Promise<Entry[]> {
    const out: Entry[] = [];
    let offset = 0;
    for (;;) {
      const { result } = await this.req<"entries">({
        type: "list",
        path,
        offset,
        dirs_first: true,
        hidden: !gitignore,
        gitignore,
      });
      out.push(...result.entries);
      offset = result.offset + result.entries.length;
      if (result.entries.length === 0 || offset >= result.total || out.length >= 5000) break;
    }
    return out;
  }

  async read(path: string, length?: number): Promise<ReadResult> {
    const { result, data } = await this.req<"read">({
      type: "read",
      path,
      ...(length !== undefined ? { length } : {}),
    });
    return { bytes: concat(data), info: result };
  }

  async write(path: string, content: string, expect?: Precondition): Promise<R<"written">> {
    const { result } = await this.req<"written">({
      type: "write",
      path,
      content,
      ...(expect ? { expect } : {}),
    });
    return result;
  }

  async rename(from: string, to: string) {
    await this.req<"empty">({ type: "rename", from, to });
  }

  async remove(path: string, recursive: boolean) {
    await this.req<"empty">({ type: "delete", path, recursive });
  }

  async mkdir(path: string) {
    await this.req<"empty">({ type: "mkdir", path, parents: true });
  }

  /** Uploads `file` in chunks no larger than the relay's frame limit. */
  async upload(path: string, file: Blob, chunk: number, progress?: (done: number) => void) {
    const { result } = await this.req<"upload">({
      type: "upload.start",
      path,
      create_parents: true,
    });
    let offset = result.offset;
    while (offset < file.size) {
      const part = new Uint8Array(await file.slice(offset, offset + chunk).arrayBuffer());
      await this.req<"upload">(
        { type: "upload.chunk", upload: result.upload, offset, len: part.length },
        part,
      );
      offset += part.length;
      progress?.(offset);
    }
    return (await this.req<"written">({ type: "upload.finish", upload: result.upload })).result;
  }

  async watch(path: string) {
    return (await this.req<"watching">({ type: "watch", path, recursive: true })).result.watch;
  }

  async unwatch(watch: string) {
    await this.req<"empty">({ type: "unwatch", watch });
  }
}

/** Text of a file's bytes, or null when they are not UTF-8. */
export function decodeText(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** A short hex dump of the first bytes. */
export function hexDump(bytes: Uint8Array, max = 512): string {
  const lines: string[] = [];
  for (let i = 0; i < Math.min(bytes.length, max); i += 16) {
    const row = bytes.subarray(i, Math.min(i + 16, bytes.length));
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${i.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n");
}

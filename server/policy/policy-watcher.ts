/**
 * Reloads the policy when its file changes or on SIGHUP (config.md: "re-loaded when the file
 * changes or on SIGHUP"), through PolicyStore, which keeps the last good policy on failure.
 *
 * The folder is watched, not the file, and events are filtered by name: editors save by writing
 * a new file and renaming it over the old one, and a Kubernetes ConfigMap volume swaps its
 * `..data` symlink to a new folder (the file itself is a symlink through `..data`). A watch on
 * the file would stay attached to the replaced inode and miss both. Bursts of events are
 * debounced, and a file whose bytes did not change since the last reload is not reloaded again
 * (a `touch` or a chmod must not start a new generation and empty the decision cache). A file
 * that is a symlink to some other folder is not followed: send SIGHUP after changing it.
 *
 * No logger here (style.md dependency rule: policy/ imports no pino): results go to callbacks.
 */
import { createHash } from 'node:crypto';
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { PolicyStore, ReloadResult } from './policy-store';

export type ReloadTrigger = 'file' | 'SIGHUP';

export interface WatchPolicyOptions {
  readonly store: PolicyStore;
  /** The policy file; undefined for policies with no file (embedded default, flags): SIGHUP only. */
  readonly file?: string | undefined;
  /** Every reload attempt and its result. */
  readonly onReload: (result: ReloadResult, trigger: ReloadTrigger) => void;
  /** The folder watch failed (e.g. the folder was removed); reloads then need SIGHUP. */
  readonly onWatchError?: (err: Error) => void;
  /** Quiet period after the last file event before reloading; default 100 ms. */
  readonly debounceMs?: number;
  /** Reload on SIGHUP; default true. */
  readonly sighup?: boolean;
}

/** Names in the watched folder that mean "the policy may have changed". */
const CONFIGMAP_DATA_LINK = '..data';

function fingerprint(path: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return undefined;
  }
}

/** Starts watching; returns stop(), which removes the watch, the timer and the SIGHUP handler. */
export function watchPolicy(options: WatchPolicyOptions): () => void {
  const { store, onReload } = options;
  const debounceMs = options.debounceMs ?? 100;
  const file = options.file !== undefined ? resolve(options.file) : undefined;
  let lastSeen: string | undefined; // unknown at start: the first file event always reloads
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let stopped = false;

  const reload = (trigger: ReloadTrigger, skipUnchanged: boolean): void => {
    if (stopped) return;
    const now = file !== undefined ? fingerprint(file) : undefined;
    if (skipUnchanged && now !== undefined && now === lastSeen) return;
    lastSeen = now;
    onReload(store.reload(), trigger);
  };

  if (file !== undefined) {
    const name = basename(file);
    try {
      watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
        if (changed !== null && changed !== name && changed !== CONFIGMAP_DATA_LINK) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          timer = undefined;
          reload('file', true);
        }, debounceMs);
      });
      watcher.on('error', (err) => options.onWatchError?.(err));
    } catch (err) {
      options.onWatchError?.(err as Error);
    }
  }

  const onHup = (): void => reload('SIGHUP', false);
  const sighup = options.sighup ?? true;
  if (sighup) process.on('SIGHUP', onHup);

  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    watcher?.close();
    if (sighup) process.removeListener('SIGHUP', onHup);
  };
}

// Live reconfiguration: SIGHUP (and, with reload.watch, a change of the file) re-reads the config file and hands it to
// the proxy (ProxyServer.reload says what applies at once). A file that cannot be read or fails validation changes
// nothing: the config in force stays, and the error, naming the field, is logged and counted.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { loadConfig } from './load-config.js';
import type { ProxyServer } from '../proxy/proxy-server.js';

/** Editors write a file in several steps (truncate, write, rename): one reload once the steps have settled. */
const SETTLE_MS = 200;
/**
 * A Kubernetes ConfigMap volume updates its files by pointing the `..data` symlink at a new directory (the kubelet's
 * atomic writer renames `..data_tmp` over it); the config file is a symlink through it and never changes name.
 */
const CONFIGMAP_DATA = '..data';

export type ReloadTrigger = 'SIGHUP' | 'file changed';

export class ConfigReloader {
  private readonly file: string;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onSignal = () => void this.reload('SIGHUP');

  constructor(file: string, private readonly proxy: ProxyServer) {
    this.file = resolve(file);
  }

  start(): void {
    process.on('SIGHUP', this.onSignal);
    this.watchIf(this.proxy.config.reload.watch);
  }

  stop(): void {
    process.off('SIGHUP', this.onSignal);
    this.watchIf(false);
  }

  /** Re-reads the file; true when its config is now in force. */
  reload(trigger: ReloadTrigger): boolean {
    const { log, metrics } = this.proxy;
    let next;
    try {
      next = loadConfig(this.file);
    } catch (err) {
      metrics.configReloads.labels('failure').inc();
      metrics.configLastReloadFailure.set(Date.now() / 1000);
      log.error({ trigger, file: this.file, error: (err as Error).message }, 'config reload failed: the config in force is unchanged');
      return false;
    }
    const kept = this.proxy.reload(next);
    metrics.configReloads.labels('success').inc();
    metrics.configLastReloadSuccess.set(Date.now() / 1000);
    log.info({ trigger, file: this.file }, 'config reloaded');
    if (kept.length > 0) {
      log.warn({ settings: kept }, `config reload: ${kept.join(', ')} cannot change while the proxy runs: the old values stay in force until a restart`);
    }
    this.watchIf(next.reload.watch);
    return true;
  }

  private watchIf(on: boolean): void {
    if (on && !this.watcher) {
      // the directory, not the file: an editor that saves by renaming a new file over the old one replaces the inode
      // a watch on the file would follow
      const name = basename(this.file);
      const failed = (err: Error) => this.proxy.log.error({ file: this.file, error: err.message }, 'config file watch failed: reload with SIGHUP');
      try {
        this.watcher = watch(dirname(this.file), (_event, changed) => {
          if (changed !== null && changed !== name && changed !== CONFIGMAP_DATA) return;
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.reload('file changed'), SETTLE_MS);
        });
      } catch (err) {
        // out of inotify instances or watches (EMFILE, ENOSPC): thrown at once, from a SIGHUP's handler
        failed(err as Error);
        return;
      }
      this.watcher.on('error', failed);
    } else if (!on && this.watcher) {
      this.watcher.close();
      this.watcher = undefined;
      clearTimeout(this.timer);
    }
  }
}

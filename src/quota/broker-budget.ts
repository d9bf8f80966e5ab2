// What the broker behind this sidecar takes from all of its tenants together (`brokerBudget` in the config), so that
// many tenants storming at once cannot exceed it either: paid before a request is forwarded. Over the budget the
// request waits, unforwarded and its client not read, for its turn (the waits queue up in the order requests came).
// One token bucket per budget, in a one-slot BucketTable.
import type { Counter } from 'prom-client';
import type { Rate } from '../config/load-config.js';
import { BucketTable } from './bucket-table.js';

export interface BrokerBudgetConfig {
  /** Members joining consumer groups (and groups deleted), as the groupJoins quota counts them. */
  groupJoins: Rate | undefined;
}

export class BrokerBudget {
  private readonly table: BucketTable;
  private readonly slot: number;

  constructor(
    private readonly config: BrokerBudgetConfig,
    now: () => number,
    private readonly metrics: { waits: Counter<'budget'>; waitSeconds: Counter<'budget'> },
  ) {
    this.table = new BucketTable(1, 16, now);
    this.slot = this.table.slotFor('broker');
  }

  get groupJoinsLimited(): boolean {
    return this.config.groupJoins !== undefined;
  }

  /** Pays for `joins` group joins; returns how long the request must wait before it is forwarded (ms; 0: at once). */
  groupJoinWaitMs(joins: number): number {
    const r = this.config.groupJoins;
    if (!r) return 0;
    const ms = this.table.charge(this.slot, 0, joins, r.rate, r.burst);
    if (ms > 0) {
      this.metrics.waits.labels('groupJoins').inc();
      this.metrics.waitSeconds.labels('groupJoins').inc(ms / 1000);
    }
    return ms;
  }
}

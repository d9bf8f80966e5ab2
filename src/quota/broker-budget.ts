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
  /** Partitions created and deleted, as the partitionMutations quota counts them. */
  partitionMutations: Rate | undefined;
}

export type BudgetName = keyof BrokerBudgetConfig;
const BUDGETS: readonly BudgetName[] = ['groupJoins', 'partitionMutations'];

export class BrokerBudget {
  private readonly table: BucketTable;
  private readonly slot: number;

  constructor(
    private config: BrokerBudgetConfig,
    now: () => number,
    private readonly metrics: { waits: Counter<'budget'>; waitSeconds: Counter<'budget'> },
  ) {
    this.table = new BucketTable(1, 16, now, 1, BUDGETS.length);
    this.slot = this.table.slotFor('broker');
    // each budget's series from the start, at 0, so that its first wait shows in increase() and rate()
    for (const name of BUDGETS) {
      metrics.waits.labels(name).inc(0);
      metrics.waitSeconds.labels(name).inc(0);
    }
  }

  /** Each budget's rate, burst and tokens now (null: off), for /quota. */
  get stats(): Record<BudgetName, { ratePerSec: number; burst: number; tokens: number } | null> {
    const of = (name: BudgetName) => {
      const r = this.config[name];
      return r ? { ratePerSec: r.rate, burst: r.burst, tokens: this.table.tokensOf(this.slot, BUDGETS.indexOf(name), r.rate, r.burst) } : null;
    };
    return { groupJoins: of('groupJoins'), partitionMutations: of('partitionMutations') };
  }

  /** New rates (a reload): the budget's balance is kept (clipped to a smaller burst as it refills). */
  configure(config: BrokerBudgetConfig): void {
    this.config = config;
  }

  limits(budget: BudgetName): boolean {
    return this.config[budget] !== undefined;
  }

  /** Pays `units` of a budget; returns how long the request must wait before it is forwarded (ms; 0: at once). */
  waitMs(budget: BudgetName, units: number): number {
    const r = this.config[budget];
    if (!r || units <= 0) return 0;
    const ms = this.table.charge(this.slot, BUDGETS.indexOf(budget), units, r.rate, r.burst);
    if (ms > 0) {
      this.metrics.waits.labels(budget).inc();
      this.metrics.waitSeconds.labels(budget).inc(ms / 1000);
    }
    return ms;
  }
}

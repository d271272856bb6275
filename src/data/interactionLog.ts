/**
 * Raw interactions as read from a source, in file order, held in growable typed columns with
 * interned ids: millions of reviews fit in a few tens of MB instead of one object each.
 */
export class Interner {
  private readonly index = new Map<string, number>();
  readonly values: string[] = [];

  /** The id of `value`, assigned in order of first appearance. */
  intern(value: string): number {
    let id = this.index.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.index.set(value, id);
      this.values.push(value);
    }
    return id;
  }

  get(value: string): number | undefined {
    return this.index.get(value);
  }

  get size(): number {
    return this.values.length;
  }
}

export class InteractionLog {
  readonly users = new Interner();
  readonly items = new Interner();
  private userCol = new Int32Array(1024);
  private itemCol = new Int32Array(1024);
  private timeCol = new Float64Array(1024);
  length = 0;
  /** False when the source carries no timestamps (order is given by position instead). */
  hasTimestamps = true;

  add(user: string, item: string, timestamp: number): void {
    if (this.length === this.userCol.length) this.grow();
    this.userCol[this.length] = this.users.intern(user);
    this.itemCol[this.length] = this.items.intern(item);
    this.timeCol[this.length] = timestamp;
    this.length++;
  }

  private grow(): void {
    const size = this.userCol.length * 2;
    const grown = <T extends Int32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.userCol = grown(this.userCol, (n) => new Int32Array(n));
    this.itemCol = grown(this.itemCol, (n) => new Int32Array(n));
    this.timeCol = grown(this.timeCol, (n) => new Float64Array(n));
  }

  columns(): { user: Int32Array; item: Int32Array; time: Float64Array } {
    return {
      user: this.userCol.subarray(0, this.length),
      item: this.itemCol.subarray(0, this.length),
      time: this.timeCol.subarray(0, this.length),
    };
  }
}

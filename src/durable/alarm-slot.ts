/**
 * A Durable Object has one alarm; several purposes share it (flushing rate-limit windows, mirroring a
 * balance to D1, dropping stale storage). `by(t)` makes sure the alarm fires no later than `t`: it only ever
 * moves a pending alarm earlier, and it remembers the pending time so that the common case (already due
 * soon enough) costs no storage call.
 */
export class AlarmSlot {
  constructor(
    private readonly storage: DurableObjectStorage,
    /** The pending alarm's time, as read from storage when the object started (null: none). */
    private at: number | null,
  ) {}

  /** False if an alarm at or before `time` is already pending. */
  needed(time: number): boolean {
    return this.at === null || this.at > time;
  }

  /** Ensures an alarm at or before `time`. */
  async by(time: number): Promise<void> {
    if (!this.needed(time)) return;
    this.at = time;
    await this.storage.setAlarm(time);
  }

  /**
   * Called first thing in `alarm()`: the runtime has taken the pending alarm. Returns the time it was set
   * for, or null if unknown (a retry after a failed run, when every purpose should count as due).
   */
  fired(): number | null {
    const at = this.at;
    this.at = null;
    return at;
  }
}

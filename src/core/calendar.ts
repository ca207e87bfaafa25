/**
 * Trading-session calendars: regular sessions per weekday in an IANA time zone, holidays and half
 * days. Used by the simulated venues (DAY order expiry) and by the trading-hours risk check.
 *
 * Converting an epoch to local wall time with Intl costs microseconds, too much for every order, so
 * the answer is cached per minute (sessions open and close on minute boundaries).
 */
import type { Nanos } from './time.js';

export interface SessionSpec {
  /** "HH:MM" local time, inclusive */
  open: string;
  /** "HH:MM" local time, exclusive; "24:00" means end of day */
  close: string;
}

export interface CalendarSpec {
  id: string;
  timezone: string;
  /** ISO weekdays 1 (Monday) … 7 (Sunday) on which the sessions run */
  weekdays: number[];
  sessions: SessionSpec[];
  /** "YYYY-MM-DD" local dates with no trading */
  holidays?: string[];
  /** local date → early close "HH:MM" */
  halfDays?: Record<string, string>;
}

export const ALWAYS_OPEN: CalendarSpec = {
  id: '24x7',
  timezone: 'UTC',
  weekdays: [1, 2, 3, 4, 5, 6, 7],
  sessions: [{ open: '00:00', close: '24:00' }],
};

const HHMM = /^([01]\d|2[0-4]):([0-5]\d)$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function minutesOf(hhmm: string, field: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new Error(`${field}: "${hhmm}" is not a time of day HH:MM`);
  const v = Number(m[1]) * 60 + Number(m[2]);
  if (v > 1440) throw new Error(`${field}: "${hhmm}" is past 24:00`);
  return v;
}

/** Throws with the field name when a calendar spec is malformed. */
export function validateCalendar(spec: CalendarSpec, path = 'calendar'): void {
  if (!spec.id) throw new Error(`${path}.id: required`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: spec.timezone });
  } catch {
    throw new Error(`${path}.timezone: "${spec.timezone}" is not a known IANA time zone`);
  }
  if (!Array.isArray(spec.weekdays) || spec.weekdays.some((d) => !Number.isInteger(d) || d < 1 || d > 7)) {
    throw new Error(`${path}.weekdays: must be ISO weekdays 1..7`);
  }
  if (!Array.isArray(spec.sessions) || spec.sessions.length === 0) throw new Error(`${path}.sessions: at least one session is required`);
  spec.sessions.forEach((s, i) => {
    const o = minutesOf(s.open, `${path}.sessions[${i}].open`);
    const c = minutesOf(s.close, `${path}.sessions[${i}].close`);
    if (c <= o) throw new Error(`${path}.sessions[${i}]: close ${s.close} is not after open ${s.open}`);
  });
  for (const h of spec.holidays ?? []) if (!DATE.test(h)) throw new Error(`${path}.holidays: "${h}" is not YYYY-MM-DD`);
  for (const [d, t] of Object.entries(spec.halfDays ?? {})) {
    if (!DATE.test(d)) throw new Error(`${path}.halfDays: "${d}" is not YYYY-MM-DD`);
    minutesOf(t, `${path}.halfDays.${d}`);
  }
}

const WEEKDAY: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

export class TradingCalendar {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly sessions: { open: number; close: number }[];
  private readonly holidays: Set<string>;
  private readonly halfDays: Map<string, number>;
  private readonly weekdays: Set<number>;
  private readonly alwaysOpen: boolean;
  private cacheMinute = -1n;
  private cacheOpen = false;

  constructor(readonly spec: CalendarSpec) {
    validateCalendar(spec);
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: spec.timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
    });
    this.sessions = spec.sessions.map((s) => ({ open: minutesOf(s.open, 'open'), close: minutesOf(s.close, 'close') }));
    this.holidays = new Set(spec.holidays ?? []);
    this.halfDays = new Map(Object.entries(spec.halfDays ?? {}).map(([d, t]) => [d, minutesOf(t, d)]));
    this.weekdays = new Set(spec.weekdays);
    this.alwaysOpen =
      this.weekdays.size === 7 && this.holidays.size === 0 && this.halfDays.size === 0 && this.sessions.some((s) => s.open === 0 && s.close === 1440);
  }

  /** Local date ("YYYY-MM-DD"), ISO weekday and minute of day at an instant. */
  local(ts: Nanos): { date: string; weekday: number; minute: number } {
    const parts = this.fmt.formatToParts(new Date(Number(ts / 1_000_000n)));
    let y = '', mo = '', d = '', wd = '', h = '0', mi = '0';
    for (const p of parts) {
      if (p.type === 'year') y = p.value;
      else if (p.type === 'month') mo = p.value;
      else if (p.type === 'day') d = p.value;
      else if (p.type === 'weekday') wd = p.value;
      else if (p.type === 'hour') h = p.value;
      else if (p.type === 'minute') mi = p.value;
    }
    return { date: `${y}-${mo}-${d}`, weekday: WEEKDAY[wd] ?? 0, minute: Number(h) * 60 + Number(mi) };
  }

  isOpen(ts: Nanos): boolean {
    if (this.alwaysOpen) return true;
    const minute = ts / 60_000_000_000n;
    if (minute === this.cacheMinute) return this.cacheOpen;
    const l = this.local(ts);
    let open = false;
    if (this.weekdays.has(l.weekday) && !this.holidays.has(l.date)) {
      const early = this.halfDays.get(l.date);
      for (const s of this.sessions) {
        const close = early !== undefined ? Math.min(s.close, early) : s.close;
        if (l.minute >= s.open && l.minute < close) {
          open = true;
          break;
        }
      }
    }
    this.cacheMinute = minute;
    this.cacheOpen = open;
    return open;
  }
}

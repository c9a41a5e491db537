// Yunying's own JSON API next to DICOMweb (`/api/...`): who is signed in,
// sign-in and out, study access and grants, administration. The session
// cookie (HttpOnly) goes with every same-origin request by itself; a bearer
// token typed on the sign-in page goes as a header (`authHeaders`).

import { authHeaders } from './dicomweb';

export class ApiError extends Error {
  constructor(public status: number, message: string, public body: Record<string, unknown> = {}) {
    super(message);
  }
}

let base = location.origin;

/** The API lives at the root of the server that serves DICOMweb. */
export function setApiBase(dicomwebRoot: string): void {
  base = new URL(dicomwebRoot).origin;
}

/** The absolute address of an API path (for a plain link, such as a CSV download). */
export function apiUrl(path: string): string {
  return new URL(path, base).toString();
}

/**
 * One JSON request. State-changing requests say `Content-Type:
 * application/json` (the server's rule against cross-site forgery); the
 * browser adds the same-origin `Origin` itself. Errors carry the server's
 * message (`{"error": …}`) and status.
 */
export async function api<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders() };
  if (method !== 'GET') headers['Content-Type'] = 'application/json';
  let r: Response;
  try {
    r = await fetch(new URL(path, base), {
      method,
      headers,
      credentials: 'same-origin',
      body: method === 'GET' ? undefined : JSON.stringify(body ?? {}),
    });
  } catch (e) {
    throw new ApiError(0, (e as Error).message);
  }
  const text = await r.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the text is the message
  }
  if (!r.ok) {
    const o = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
    const message = String(o.error ?? o.message ?? (text.slice(0, 200) || r.statusText || r.status));
    throw new ApiError(r.status, message, o);
  }
  return json as T;
}

/** `1733412345678` → local `2026-12-05 17:25`. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

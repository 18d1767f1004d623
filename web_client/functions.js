// The streaming functions a user may open: the proxy's `GET /functions` (docs/protocol.md section 1).

/**
 * The functions this `token` may open: a list of `{name, title}`, null when the proxy has no such
 * endpoint or the request failed (use its default function), or `{rejected: reason}` for 401.
 */
export async function listFunctions(token) {
  let response;
  try {
    response = await fetch('/functions', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch {
    return null;
  }
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    return { rejected: body.error ?? '' };
  }
  if (!response.ok) return null;
  const body = await response.json().catch(() => null);
  return Array.isArray(body?.functions) ? body.functions : null;
}

/**
 * Whether a variable holds something that must not be written into a manifest (which is meant
 * to be committed to git). Judged by its name, and by its value where one is known. It errs on
 * the side of a secret: a secret reference that turns out to be harmless costs one line in the
 * secrets file, a password in git costs a rotation.
 */
export function looksSecret(name: string, value?: string): boolean {
  return secretName(name) || (value !== undefined && secretValue(value));
}

// Substrings that are secret wherever they appear (DB_PASSWORD, GITHUB_TOKEN, CLIENT_SECRET, ...).
const SECRET_PARTS = /PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL|PRIVATE|APIKEY/;
// Whole words only: KEY in API_KEY but not in KEYCLOAK_URL, PASS in SMTP_PASS but not in PASSENGER.
const SECRET_WORDS = new Set(['KEY', 'PASS', 'PWD', 'PW', 'DSN', 'SALT']);

function secretName(name: string): boolean {
  const upper = name.toUpperCase();
  // POSTGRES_PASSWORD_FILE and the like hold the path of a secret, not the secret.
  if (/_FILE$/.test(upper)) return false;
  return SECRET_PARTS.test(upper) || upper.split(/[^A-Z0-9]+/).some((word) => SECRET_WORDS.has(word));
}

function secretValue(value: string): boolean {
  // A URL with a password in it (postgres://app:hunter2@db/app, redis://:hunter2@cache), or a PEM key.
  return /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i.test(value) || value.includes('-----BEGIN');
}

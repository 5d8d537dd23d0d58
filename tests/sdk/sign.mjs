// Signs GitHub webhook requests with @octokit/webhooks-methods and prints them as JSON, in
// the same shape as tests/sdk/sign.py: a list of
//   { name, provider, path, query, content_type, headers: {...}, body_b64 }
// The end-to-end test tests/e2e/sdk.rs sends each one through hookwall.
//
// The secret comes from the command line (--github-secret VALUE) or from the environment
// (HOOKWALL_SDK_GITHUB_SECRET). Install the package with: npm ci --prefix tests/sdk
//
// Every case is checked with the package's own verify() before it is printed; if that fails
// the script is wrong, and it exits with status 3 instead.

import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";

let sign, verify;
try {
  ({ sign, verify } = await import("@octokit/webhooks-methods"));
} catch (e) {
  process.stderr.write(
    `sign.mjs: @octokit/webhooks-methods is missing (${e.message}); install it with \`npm ci --prefix tests/sdk\`\n`,
  );
  process.exit(2);
}

const { values } = parseArgs({ options: { "github-secret": { type: "string" } } });
const secret = values["github-secret"] ?? process.env.HOOKWALL_SDK_GITHUB_SECRET;
if (!secret) {
  process.stderr.write("sign.mjs: missing HOOKWALL_SDK_GITHUB_SECRET (or --github-secret)\n");
  process.exit(2);
}

const push = JSON.stringify({
  ref: "refs/heads/main",
  head_commit: { id: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", message: "Fix the café menu 🍰" },
  repository: { full_name: "octo-org/hookwall-e2e" },
  sender: { login: "octocat" },
});
const issue = JSON.stringify({ action: "opened", issue: { number: 7, title: "Straße & ümlauts" } });

// GitHub sends either JSON or, if the hook is set to form content, `payload=<JSON>`.
const bodies = [
  ["github-push-json", "push", push, "application/json"],
  ["github-issues-form", "issues", `payload=${encodeURIComponent(issue)}`, "application/x-www-form-urlencoded"],
];

const cases = [];
for (const [name, event, body, contentType] of bodies) {
  const signature = await sign(secret, body);
  if (!(await verify(secret, body, signature))) {
    process.stderr.write(`sign.mjs: self-check failed: case ${name}: verify() refuses what sign() made\n`);
    process.exit(3);
  }
  cases.push({
    name,
    provider: "github",
    path: "/sdk/github",
    query: "",
    content_type: contentType,
    headers: {
      "X-Hub-Signature-256": signature,
      "X-GitHub-Event": event,
      "X-GitHub-Delivery": randomUUID(),
      "User-Agent": "GitHub-Hookshot/e2e",
    },
    body_b64: Buffer.from(body, "utf8").toString("base64"),
  });
}
process.stdout.write(JSON.stringify(cases, null, 1) + "\n");

// A second implementation of txanon token spec v1.1 for e-mail addresses,
// written from docs/TOKEN-SPEC.md alone with tr46 (UTS #46, Unicode 18.0) and
// node's crypto. Usage: node email_tokens.js KEY_FILE RAW.jsonl OUT.jsonl
// (one JSON string a line in; [status, normalized, token] a line out).
const fs = require("fs"), crypto = require("crypto");
const tr46 = require("tr46");
const WS = new Set([..."\t\n\u000b\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"]);
function trim(s) { const a = [...s]; let i = 0, j = a.length; while (i < j && WS.has(a[i])) i++; while (j > i && WS.has(a[j-1])) j--; return a.slice(i, j).join(""); }
function normalize(raw) {
  const s = trim(raw.normalize("NFKC"));
  if (s === "") return ["empty", null];
  const l = s.toLowerCase();
  if ([...l].some(c => WS.has(c))) return ["invalid", null];
  const parts = l.split("@");
  if (parts.length !== 2) return ["invalid", null];
  const [local, domain] = parts;
  if (!local) return ["invalid", null];
  if (!domain.includes(".") || domain.startsWith(".") || domain.endsWith(".")) return ["invalid", null];
  if (domain.split(".").some(x => x === "")) return ["invalid", null];
  const a = tr46.toASCII(domain, { checkHyphens: true, checkBidi: true, checkJoiners: true,
    useSTD3ASCIIRules: true, verifyDNSLength: true, processingOption: "nontransitional", ignoreInvalidPunycode: false });
  if (a === null) return ["invalid", null];
  return ["ok", local + "@" + a];
}
const key = Buffer.from(fs.readFileSync(process.argv[2], "utf8").trim(), "hex");
const nsKey = crypto.createHmac("sha256", key).update(Buffer.concat([Buffer.from("txanon/v1//email"), Buffer.from([1])])).digest();
const lines = fs.readFileSync(process.argv[3], "utf8").split("\n").filter(Boolean);
const out = [];
for (const line of lines) {
  const raw = JSON.parse(line);
  const [st, v] = normalize(raw);
  out.push(JSON.stringify([st, v, v === null ? null : crypto.createHmac("sha256", nsKey).update(v, "utf8").digest("hex").slice(0, 32)]));
}
fs.writeFileSync(process.argv[4], out.join("\n") + "\n");

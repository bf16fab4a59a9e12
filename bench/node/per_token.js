// The Node side of bench/node_per_token.py: connect.js's handler on the benchmark's tokens; its
// twin is bench/lambda_per_token.py (the same protocol, the same selection before the clock).
//
//   node per_token.js                  steady state: one batch per line read from stdin
//                                      ("<case> <count> <step>": tokens 0, step, 2*step... of the case;
//                                      step 0 repeats the first), answering the nanoseconds per token
//   node per_token.js first <case> N   a fresh process: the first N tokens of the case after the
//                                      handler's module has loaded, answering the nanoseconds per token
"use strict";
const fs = require("fs");
const readline = require("readline");
const { handler } = require("./connect.js");

const template = JSON.parse(fs.readFileSync(process.env.EVENT_FILE, "utf8"));
const tokens = JSON.parse(fs.readFileSync(process.env.TOKENS_FILE, "utf8")).tokens;
function eventFor(token) {
  const event = JSON.parse(JSON.stringify(template));
  event.headers.Authorization = `Bearer ${token}`;
  return event;
}
const events = {};
for (const [name, list] of Object.entries(tokens)) events[name] = list.map(eventFor);

async function batch(name, count, step) {
  const list = events[name];
  const chosen = Array.from({ length: count }, (_, i) => list[(i * step) % list.length]); // before the clock, as its twin does
  const started = process.hrtime.bigint();
  for (const event of chosen) {
    const result = await handler(event);
    if (result.policyDocument.Statement[0].Effect !== "Allow") throw new Error("not allowed");
  }
  return Number(process.hrtime.bigint() - started) / count;
}

if (process.argv[2] === "first") {
  batch(process.argv[3], Number(process.argv[4]), 1).then(
    (ns) => process.stdout.write(JSON.stringify({ ns }) + "\n"),
    (error) => { console.error(String(error)); process.exit(2); },
  );
} else {
  const lines = readline.createInterface({ input: process.stdin });
  lines.on("line", async (line) => {
    const [name, count, step] = line.trim().split(" ");
    try {
      process.stdout.write(JSON.stringify({ ns: await batch(name, Number(count), Number(step)) }) + "\n");
    } catch (error) {
      process.stdout.write(JSON.stringify({ error: String(error) }) + "\n");
    }
  });
}

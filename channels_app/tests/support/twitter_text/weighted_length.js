// The official twitter-text's weighted length of each text: reads a JSON array of strings on
// stdin, writes a JSON array of numbers. Config version3 (emoji weigh 2, as X counts today)
// unless the first argument names another ("version2", "version1").
"use strict";
const twitter = require("twitter-text");

const config = twitter.configs[process.argv[2] || "version3"];
if (!config) {
  process.stderr.write(`unknown twitter-text config ${process.argv[2]}\n`);
  process.exit(2);
}
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const texts = JSON.parse(input);
  process.stdout.write(JSON.stringify(texts.map((text) => twitter.parseTweet(text, config).weightedLength)));
});

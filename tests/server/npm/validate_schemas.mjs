// Independent check of structured output: every generated text parses as JSON and validates
// against its schema under ajv (strict JSON Schema validator).
// Usage: node validate_schemas.mjs CASES.json, where the file is
//   {"schemas": [schema...], "cases": [{"schema": index, "text": "...", "finish": "stop"}...]}
// Prints "all N outputs valid" or the first failures, and exits non-zero on any failure.
import Ajv from 'ajv';
import { readFileSync } from 'node:fs';

const { schemas, cases } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true });
const validators = schemas.map((s) => ajv.compile(s));
let failures = 0;
for (const [i, c] of cases.entries()) {
  let problem = null;
  if (c.finish !== 'stop') problem = `finish_reason ${c.finish}`;
  let doc;
  if (!problem) {
    try {
      doc = JSON.parse(c.text);
    } catch (e) {
      problem = `not JSON: ${e.message}`;
    }
  }
  if (!problem && !validators[c.schema](doc)) problem = ajv.errorsText(validators[c.schema].errors);
  if (problem) {
    failures += 1;
    if (failures <= 10) console.log(`case ${i} (schema ${c.schema}): ${problem}\n  text: ${JSON.stringify(c.text)}`);
  }
}
if (failures) {
  console.log(`${failures} of ${cases.length} outputs invalid`);
  process.exit(1);
}
console.log(`all ${cases.length} outputs valid`);

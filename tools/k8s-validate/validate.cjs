#!/usr/bin/env node
// validate.cjs FILE...|-: checks every Kubernetes object in the YAML files (or
// stdin) against the Kubernetes OpenAPI schemas, offline.
//
// The schemas come from the npm package kubernetes-models (pinned in
// package.json beside this file), which ships each API type's OpenAPI schema
// as a compiled JSON Schema validator. Checks, per object:
//   - apiVersion and kind name a known built-in type;
//   - the object satisfies its schema (types, required fields, enums, formats);
//   - strict mode, as kubeconform -strict: no field the schema does not know
//     (the OpenAPI schemas allow unknown fields, and the API server would
//     drop or refuse them, so a typo would otherwise pass);
//   - metadata.name is set.
// A v1 List counts as its items.
// Prints one line per problem ("FILE: document N (Kind/name): /path: why")
// and exits 1 if there was any, 0 otherwise.
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const modelsDir = path.dirname(require.resolve("kubernetes-models/package.json"));

// schemaValidator returns the compiled validator of apiVersion/kind, or null.
function schemaValidator(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  if (!/^[A-Za-z0-9.\-/]+$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  const modelFile = path.join(modelsDir, apiVersion, `${kind}.js`);
  if (!fs.existsSync(modelFile)) return null;
  // The model class names its schema module: require("../../_schemas/X.js").
  const match = /_schemas\/(\w+)\.js/.exec(fs.readFileSync(modelFile, "utf8"));
  if (!match) return null;
  return require(path.join(modelsDir, "_schemas", `${match[1]}.js`)).validate;
}

// track wraps a value so that every property the validator looks at is
// recorded; a property of an object it never looked at is unknown to the
// schema. Objects whose keys the validator enumerates (maps such as labels)
// are free-form.
function track(value, pointer, records) {
  if (value === null || typeof value !== "object") return value;
  const record = {
    pointer,
    keys: Array.isArray(value) ? [] : Object.keys(value),
    read: new Set(),
    enumerated: false,
  };
  records.push(record);
  const target = Array.isArray(value)
    ? value.map((v, i) => track(v, `${pointer}/${i}`, records))
    : Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, track(v, `${pointer}/${k}`, records)]),
      );
  return new Proxy(target, {
    get(t, key, receiver) {
      if (typeof key === "string") record.read.add(key);
      return Reflect.get(t, key, receiver);
    },
    has(t, key) {
      if (typeof key === "string") record.read.add(key);
      return Reflect.has(t, key);
    },
    ownKeys(t) {
      record.enumerated = true;
      return Reflect.ownKeys(t);
    },
    getOwnPropertyDescriptor(t, key) {
      if (typeof key === "string") record.read.add(key);
      return Reflect.getOwnPropertyDescriptor(t, key);
    },
  });
}

function validateObject(obj) {
  const problems = [];
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    return ["/: not a Kubernetes object (a mapping)"];
  }
  const validate = schemaValidator(obj.apiVersion, obj.kind);
  if (validate === null) {
    return [`/: unknown apiVersion/kind ${obj.apiVersion}/${obj.kind}`];
  }
  // Go's base64 decoder, which reads a Secret's data, skips line breaks (and
  // kustomize's secretGenerator writes them); JSON Schema's "byte" does not.
  if (obj.apiVersion === "v1" && obj.kind === "Secret" && obj.data && typeof obj.data === "object") {
    for (const [k, v] of Object.entries(obj.data)) {
      if (typeof v === "string") obj.data[k] = v.replace(/[\r\n]/g, "");
    }
  }
  const records = [];
  const ok = validate(track(obj, "", records));
  if (!ok) {
    for (const e of validate.errors || []) {
      const params = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "";
      problems.push(`${e.instancePath || "/"}: ${e.message || e.keyword}${params}`);
    }
  }
  for (const r of records) {
    if (r.enumerated) continue;
    for (const key of r.keys) {
      if (!r.read.has(key)) problems.push(`${r.pointer}/${key}: unknown field`);
    }
  }
  if (!obj.metadata || typeof obj.metadata.name !== "string" || obj.metadata.name === "") {
    problems.push("/metadata/name: missing");
  }
  return problems;
}

function main(args) {
  if (args.length === 0) {
    console.error("usage: validate.cjs FILE...|-");
    return 2;
  }
  let failures = 0;
  let objects = 0;
  for (const file of args) {
    const text = file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(file, "utf8");
    const docs = YAML.parseAllDocuments(text);
    docs.forEach((doc, i) => {
      const where = `${file}: document ${i + 1}`;
      if (doc.errors && doc.errors.length) {
        for (const e of doc.errors) console.log(`${where}: YAML: ${e.message}`);
        failures += doc.errors.length;
        return;
      }
      const top = doc.toJS();
      if (top === null || top === undefined) return;  // an empty document
      // A v1 List (what kubectl get -o yaml prints) is its items.
      const isList = top && top.apiVersion === "v1" && top.kind === "List";
      if (isList && !Array.isArray(top.items)) {
        console.log(`${where} (List): /items: not a list`);
        failures++;
        return;
      }
      (isList ? top.items : [top]).forEach((obj, j) => {
        objects++;
        const name = obj && obj.metadata && obj.metadata.name ? obj.metadata.name : "?";
        const at = isList ? `${where} item ${j + 1}` : where;
        for (const p of validateObject(obj)) {
          console.log(`${at} (${obj && obj.kind}/${name}): ${p}`);
          failures++;
        }
      });
    });
  }
  console.log(`${objects} objects checked, ${failures} problems`);
  return failures === 0 && objects > 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));

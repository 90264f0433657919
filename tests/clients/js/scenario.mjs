// A producer's session with fhir-kit-client, as DUI software written in JavaScript runs it:
// capabilities, a transaction, read and vread of what it stored, a conditional read, a refused
// transaction. It only reports, as one JSON object on stdout, what the client made of each answer:
// tests/clients judges the report, so every client library meets the same checks.
//
// node scenario.mjs --base URL --header NAME=VALUE --accepted FILE --refused FILE
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client } from 'fhir-kit-client';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    header: { type: 'string' },
    accepted: { type: 'string' },
    refused: { type: 'string' },
  },
});
const [headerName, headerValue] = args.header.split(/=(.*)/s);
const client = new Client({ baseUrl: args.base, customHeaders: { [headerName]: headerValue } });
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const describe = (resource) => ({
  resourceType: resource.resourceType,
  id: resource.id,
  versionId: resource.meta?.versionId,
});
// Location is Type/id/_history/version.
const locate = (entry) => {
  const [resourceType, id, , version] = entry.response.location.split('/');
  return { resourceType, id, version };
};

const report = {};
const capability = await client.capabilityStatement();
report.capability = { resourceType: capability.resourceType, fhirVersion: capability.fhirVersion };

const answer = await client.transaction({ body: readJson(args.accepted) });
report.transaction = answer.entry.map(({ response }) => ({
  status: response.status,
  location: response.location,
  etag: response.etag,
}));
report.reads = [];
report.vreads = [];
for (const entry of answer.entry) {
  const { resourceType, id, version } = locate(entry);
  report.reads.push(describe(await client.read({ resourceType, id })));
  report.vreads.push(describe(await client.vread({ resourceType, id, version })));
}

// The ETag the read's answer gave. fhir-kit-client treats every status outside 2xx as an error,
// 304 Not Modified included: the conditional read "fails" with status 304.
const { resourceType, id } = locate(answer.entry[0]);
const current = await client.read({ resourceType, id });
const etag = Client.httpFor(current).response.headers.get('etag');
try {
  await client.read({ resourceType, id, options: { headers: { 'if-none-match': etag } } });
  report.not_modified = false;
} catch (error) {
  if (error.response?.status !== 304) throw error;
  report.not_modified = true;
}

try {
  await client.transaction({ body: readJson(args.refused) });
  report.refusal = { status: null };
} catch (error) {
  if (!error.response) throw error;
  report.refusal = {
    status: error.response.status,
    issues: (error.response.data.issue ?? []).map((issue) => ({
      severity: issue.severity,
      code: issue.code,
      expression: issue.expression ?? [],
      rules: (issue.details?.coding ?? []).map((coding) => coding.code),
    })),
  };
}
process.stdout.write(JSON.stringify(report));

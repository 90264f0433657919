package fr.tddui.clients;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.client.api.IClientInterceptor;
import ca.uhn.fhir.rest.client.api.IGenericClient;
import ca.uhn.fhir.rest.client.api.IHttpRequest;
import ca.uhn.fhir.rest.client.api.IHttpResponse;
import ca.uhn.fhir.rest.client.apache.GZipContentInterceptor;
import ca.uhn.fhir.rest.client.interceptor.SimpleRequestHeaderInterceptor;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CapabilityStatement;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.StringType;

/**
 * A producer's session with HAPI FHIR's own Java client, as DUI software written in Java runs it:
 * capabilities, a transaction, read and vread of what it stored, a conditional read, a refused
 * transaction. It only reports, as one JSON object on stdout, what the client made of each answer:
 * tests/clients judges the report, so every client library meets the same checks.
 *
 * <p>Arguments: {@code --base URL --header NAME=VALUE --encoding json|xml|default [--gzip]
 * --timeout-seconds N --accepted FILE --refused FILE} (the two bundles as FHIR JSON files).
 */
public final class HapiClientScenario {
    private static final ObjectMapper JSON = new ObjectMapper();

    private HapiClientScenario() {
    }

    public static void main(String[] args) throws IOException {
        Arguments arguments = Arguments.parse(args);
        FhirContext context = FhirContext.forR4();
        // The default socket timeout (10 s) can end a first transaction while HAPI warms its validator.
        context.getRestfulClientFactory().setSocketTimeout(arguments.timeoutSeconds * 1000);
        IGenericClient client = context.newRestfulGenericClient(arguments.base);
        if (arguments.encoding != null) {
            client.setEncoding(arguments.encoding);
        }
        client.registerInterceptor(new SimpleRequestHeaderInterceptor(arguments.headerName, arguments.headerValue));
        if (arguments.gzip) {
            client.registerInterceptor(new GZipContentInterceptor());
        }
        WireRecorder wire = new WireRecorder();
        client.registerInterceptor(wire);

        ObjectNode report = JSON.createObjectNode();
        CapabilityStatement capability = client.capabilities().ofType(CapabilityStatement.class).execute();
        report.putObject("capability")
                .put("resourceType", capability.fhirType())
                .put("fhirVersion", capability.getFhirVersion().toCode());

        Bundle answer = client.transaction().withBundle(readBundle(context, arguments.accepted)).execute();
        ArrayNode transaction = report.putArray("transaction");
        ArrayNode reads = report.putArray("reads");
        ArrayNode vreads = report.putArray("vreads");
        for (Bundle.BundleEntryComponent entry : answer.getEntry()) {
            Bundle.BundleEntryResponseComponent response = entry.getResponse();
            transaction.addObject().put("status", response.getStatus()).put("location", response.getLocation())
                    .put("etag", response.getEtag());
            IdType location = new IdType(response.getLocation());
            reads.add(describe(context, client.read().resource(location.getResourceType())
                    .withId(location.getIdPart()).execute()));
            vreads.add(describe(context, client.read().resource(location.getResourceType())
                    .withIdAndVersion(location.getIdPart(), location.getVersionIdPart()).execute()));
        }

        IdType first = new IdType(answer.getEntryFirstRep().getResponse().getLocation());
        IBaseResource current = client.read().resource(first.getResourceType()).withId(first.getIdPart()).execute();
        IBaseResource unchanged = client.read().resource(first.getResourceType()).withId(first.getIdPart())
                .ifVersionMatches(current.getMeta().getVersionId()).returnNull().execute();
        report.put("not_modified", unchanged == null);

        ObjectNode refusal = report.putObject("refusal");
        try {
            client.transaction().withBundle(readBundle(context, arguments.refused)).execute();
            refusal.putNull("status");
        } catch (BaseServerResponseException refused) {
            refusal.put("status", refused.getStatusCode());
            ArrayNode issues = refusal.putArray("issues");
            if (refused.getOperationOutcome() instanceof OperationOutcome outcome) {
                outcome.getIssue().forEach(issue -> issues.add(describe(issue)));
            }
        }
        report.set("exchanges", wire.exchanges);
        System.out.println(JSON.writeValueAsString(report));
    }

    private static Bundle readBundle(FhirContext context, Path file) throws IOException {
        return context.newJsonParser().parseResource(Bundle.class, Files.readString(file));
    }

    private static ObjectNode describe(FhirContext context, IBaseResource resource) {
        return JSON.createObjectNode()
                .put("resourceType", context.getResourceType(resource))
                .put("id", resource.getIdElement().getIdPart())
                .put("versionId", resource.getMeta().getVersionId());
    }

    private static ObjectNode describe(OperationOutcome.OperationOutcomeIssueComponent issue) {
        ObjectNode described = JSON.createObjectNode()
                .put("severity", issue.getSeverity().toCode())
                .put("code", issue.getCode().toCode());
        ArrayNode expressions = described.putArray("expression");
        issue.getExpression().stream().map(StringType::getValue).forEach(expressions::add);
        ArrayNode rules = described.putArray("rules");
        issue.getDetails().getCoding().forEach(coding -> rules.add(coding.getCode()));
        return described;
    }

    /** What went over the wire, so the tests can tell which formats and codings were really used. */
    private static final class WireRecorder implements IClientInterceptor {
        private static final List<String> HEADERS = List.of("Content-Type", "Content-Encoding", "Accept",
                "If-None-Match");
        final ArrayNode exchanges = JSON.createArrayNode();

        @Override
        public void interceptRequest(IHttpRequest request) {
            ObjectNode exchange = exchanges.addObject().put("method", request.getHttpVerbName())
                    .put("url", request.getUri());
            ObjectNode headers = exchange.putObject("headers");
            for (Map.Entry<String, List<String>> header : request.getAllHeaders().entrySet()) {
                HEADERS.stream().filter(header.getKey()::equalsIgnoreCase).findFirst()
                        .ifPresent(name -> headers.put(name, String.join(", ", header.getValue())));
            }
        }

        @Override
        public void interceptResponse(IHttpResponse response) {
            ((ObjectNode) exchanges.get(exchanges.size() - 1)).put("status", response.getStatus())
                    .put("answerMimeType", response.getMimeType());
        }
    }

    private record Arguments(String base, String headerName, String headerValue, EncodingEnum encoding,
                             boolean gzip, int timeoutSeconds, Path accepted, Path refused) {
        static Arguments parse(String[] args) {
            Map<String, String> named = new HashMap<>();
            boolean gzip = false;
            for (int index = 0; index < args.length; index++) {
                if (args[index].equals("--gzip")) {
                    gzip = true;
                } else {
                    named.put(args[index], args[++index]);
                }
            }
            String[] header = named.get("--header").split("=", 2);
            return new Arguments(named.get("--base"), header[0], header[1],
                    // default: no encoding set, as most producers leave it (JSON bodies, Accept for both)
                    named.get("--encoding").equals("default") ? null
                            : EncodingEnum.valueOf(named.get("--encoding").toUpperCase(java.util.Locale.ROOT)),
                    gzip, Integer.parseInt(named.get("--timeout-seconds")),
                    Path.of(named.get("--accepted")), Path.of(named.get("--refused")));
        }
    }
}

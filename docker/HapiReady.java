// Readiness probe for the official HAPI image, which is distroless (no shell,
// no curl): compiled by docker/hapi.Dockerfile and run by the image's own Java.
// Healthy when HAPI answers and the TDDUI Bundle profile is installed.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class HapiReady {
    public static void main(String[] args) throws Exception {
        String url = args.length > 0 ? args[0]
            : "http://localhost:8080/fhir/StructureDefinition?_summary=count"
              + "&url=https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-bundle";
        HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build();
        HttpResponse<String> response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
        boolean installed = response.statusCode() == 200 && !response.body().replace(" ", "").contains("\"total\":0");
        System.exit(installed ? 0 : 1);
    }
}

package fr.tddui.hapiplugin;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.context.support.ValidationSupportContext;
import ca.uhn.fhir.parser.IParser;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.utilities.npm.NpmPackage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Serves the conformance resources of FHIR package files to the validator, read from the
 * {@code .tgz} itself and parsed on first use, without storing them in the database.
 *
 * <p>Why: the HL7 packages of the TDDUI closure (terminology, extensions) hold some 5,000
 * resources; HAPI's package installer indexes each one in the database, even in STORE_ONLY
 * mode, at about 20 a second on the project's machine, far beyond a 60 s cold start. The
 * validator needs a handful of them per request. {@link NpmPackage} indexes a package without
 * {@code .index.json} on load, as the gateway does.</p>
 */
public class PackageFileValidationSupport implements IValidationSupport {

	private static final Logger ourLog = LoggerFactory.getLogger(PackageFileValidationSupport.class);

	private final FhirContext myFhirContext;
	private final List<NpmPackage> myPackages = new ArrayList<>();
	private final Map<String, Optional<IBaseResource>> myParsed = new ConcurrentHashMap<>();

	public PackageFileValidationSupport(FhirContext theFhirContext, List<String> thePackageUrls) {
		myFhirContext = theFhirContext;
		for (String url : thePackageUrls) {
			Path path = Path.of(URI.create(url));
			long started = System.currentTimeMillis();
			try (InputStream in = Files.newInputStream(path)) {
				NpmPackage npm = NpmPackage.fromPackage(in);
				myPackages.add(npm);
				ourLog.info("Validation package {}#{} read from {} in {} ms", npm.name(), npm.version(), path,
						System.currentTimeMillis() - started);
			} catch (IOException | RuntimeException e) {
				throw new IllegalStateException("tddui.hapi.validation-packages: cannot read " + url
						+ " (check FHIR_PACKAGE_DIR): " + e.getMessage(), e);
			}
		}
	}

	@Override
	public FhirContext getFhirContext() {
		return myFhirContext;
	}

	@Override
	public String getName() {
		return "TDDUI package files";
	}

	@Override
	public IBaseResource fetchStructureDefinition(String theUrl) {
		return fetch(theUrl, "StructureDefinition");
	}

	@Override
	public IBaseResource fetchValueSet(String theUrl) {
		return fetch(theUrl, "ValueSet");
	}

	@Override
	public IBaseResource fetchCodeSystem(String theUrl) {
		return fetch(theUrl, "CodeSystem");
	}

	@Override
	public boolean isValueSetSupported(ValidationSupportContext theContext, String theValueSetUrl) {
		return fetchValueSet(theValueSetUrl) != null;
	}

	@Override
	public boolean isCodeSystemSupported(ValidationSupportContext theContext, String theSystem) {
		return fetchCodeSystem(theSystem) != null;
	}

	private IBaseResource fetch(String theUrl, String theResourceType) {
		if (theUrl == null) {
			return null;
		}
		String canonical = theUrl.contains("|") ? theUrl.substring(0, theUrl.indexOf('|')) : theUrl;
		IBaseResource found = myParsed.computeIfAbsent(canonical, this::load).orElse(null);
		if (found == null || !theResourceType.equals(myFhirContext.getResourceType(found))) {
			return null;
		}
		return found;
	}

	private Optional<IBaseResource> load(String theCanonical) {
		IParser parser = myFhirContext.newJsonParser();
		for (NpmPackage npm : myPackages) {
			try (InputStream in = npm.loadByCanonical(theCanonical)) {
				if (in != null) {
					return Optional.of(parser.parseResource(in));
				}
			} catch (IOException | RuntimeException e) {
				ourLog.warn("Cannot read {} from {}#{}: {}", theCanonical, npm.name(), npm.version(), e.getMessage());
			}
		}
		return Optional.empty();
	}
}

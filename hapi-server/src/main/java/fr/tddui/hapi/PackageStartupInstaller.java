package fr.tddui.hapi;

import ca.uhn.fhir.batch2.coordinator.JobDefinitionRegistry;
import ca.uhn.fhir.batch2.model.JobDefinition;
import ca.uhn.fhir.jpa.packages.IPackageInstallerSvc;
import ca.uhn.fhir.jpa.packages.PackageInstallOutcomeJson;
import ca.uhn.fhir.jpa.packages.PackageInstallationSpec;
import org.apache.commons.lang3.StringUtils;
import org.hl7.fhir.utilities.npm.NpmPackage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.ApplicationContext;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Installs the FHIR NPM packages listed under hapi.fhir.implementationguides, offline and
 * synchronously, after every bean exists but BEFORE the embedded web server starts listening
 * (this lifecycle runs in an earlier phase than Spring Boot's web server start), so the server
 * never answers a request without its profiles.
 *
 * <p>Only {@code file:} and {@code classpath:} package URLs are accepted (no package registry, no
 * network) and {@code fetchDependencies} must be false. Any missing/unreadable file or install
 * error aborts start-up with a message naming the package. Packages are installed in dependency
 * order (a configured package is installed after the configured packages it depends on).</p>
 */
@Component
public class PackageStartupInstaller implements SmartLifecycle {

	private static final Logger ourLog = LoggerFactory.getLogger(PackageStartupInstaller.class);

	/** Before WebServerStartStopLifecycle (DEFAULT_PHASE - 1024) and graceful shutdown (DEFAULT_PHASE - 2048). */
	static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 4096;

	private final HapiFhirProperties myProps;
	private final IPackageInstallerSvc myInstaller;
	private final ApplicationContext myAppCtx;
	private final List<String> myInstalled = Collections.synchronizedList(new ArrayList<>());
	private volatile boolean myRunning;

	public PackageStartupInstaller(
			HapiFhirProperties theProps, IPackageInstallerSvc theInstaller, ApplicationContext theAppCtx) {
		myProps = theProps;
		myInstaller = theInstaller;
		myAppCtx = theAppCtx;
	}

	/** "name#version" of the packages installed (or found installed) at start-up, in install order. */
	public List<String> getInstalledPackages() {
		return List.copyOf(myInstalled);
	}

	@Override
	public int getPhase() {
		return PHASE;
	}

	@Override
	public boolean isRunning() {
		return myRunning;
	}

	@Override
	public void stop() {
		myRunning = false;
	}

	@Override
	public void start() {
		myRunning = true;
		Map<String, HapiFhirProperties.IgSpec> configured = myProps.getImplementationguides();
		if (configured == null || configured.isEmpty()) {
			ourLog.warn("No hapi.fhir.implementationguides configured: no FHIR package installed");
			return;
		}

		// 1. check every entry and read every file before touching the database
		Map<String, Loaded> loaded = new LinkedHashMap<>();
		for (Map.Entry<String, HapiFhirProperties.IgSpec> next : configured.entrySet()) {
			Loaded l = load(next.getKey(), next.getValue());
			loaded.put(l.spec.id(), l);
		}

		// 2. Installing a SearchParameter starts a Batch2 REINDEX job, whose definition HAPI only
		// registers on ContextRefreshedEvent (later): register the definitions now if needed.
		boolean hasSearchParameters = loaded.values().stream().anyMatch(l -> {
			try {
				return !l.npm.listResources("SearchParameter").isEmpty();
			} catch (Exception e) {
				return true;
			}
		});
		if (hasSearchParameters) {
			JobDefinitionRegistry registry = myAppCtx.getBean(JobDefinitionRegistry.class);
			for (JobDefinition<?> def : myAppCtx.getBeansOfType(JobDefinition.class).values()) {
				registry.addJobDefinitionIfNotRegistered(def);
			}
		}

		// 3. install, dependencies first
		for (Loaded l : dependencyOrder(loaded)) {
			HapiFhirProperties.IgSpec spec = l.spec;
			PackageInstallationSpec hapiSpec = new PackageInstallationSpec()
					.setName(spec.getName())
					.setVersion(spec.getVersion())
					.setPackageUrl(spec.getPackageUrl())
					.setInstallMode(spec.getInstallMode())
					.setFetchDependencies(false);
			hapiSpec.setReloadExisting(spec.isReloadExisting());
			if (spec.getInstallResourceTypes() != null && !spec.getInstallResourceTypes().isEmpty()) {
				hapiSpec.setInstallResourceTypes(new ArrayList<>(spec.getInstallResourceTypes()));
			}
			long start = System.currentTimeMillis();
			ourLog.info("Installing FHIR package {} ({}) from {}", spec.id(), spec.getInstallMode(), spec.getPackageUrl());
			try {
				PackageInstallOutcomeJson outcome = myInstaller.install(hapiSpec);
				for (String msg : outcome.getMessage()) {
					ourLog.info("  {}: {}", spec.id(), msg);
				}
			} catch (RuntimeException e) {
				throw new PackageStartupException("Could not install FHIR package " + spec.id() + " from "
						+ spec.getPackageUrl() + ": " + e.getMessage(), e);
			}
			ourLog.info("FHIR package {} installed in {} ms", spec.id(), System.currentTimeMillis() - start);
			myInstalled.add(spec.id());
		}
	}

	private record Loaded(String key, HapiFhirProperties.IgSpec spec, NpmPackage npm) {}

	private Loaded load(String theKey, HapiFhirProperties.IgSpec theSpec) {
		String where = "hapi.fhir.implementationguides." + theKey;
		if (StringUtils.isBlank(theSpec.getName()) || StringUtils.isBlank(theSpec.getVersion())) {
			throw new PackageStartupException(where + ": 'name' and 'version' are required");
		}
		String url = theSpec.getPackageUrl();
		if (StringUtils.isBlank(url)) {
			throw new PackageStartupException(where + " (" + theSpec.id()
					+ "): 'packageUrl' is required (file:///abs/path/pkg.tgz); this server never downloads packages");
		}
		if (theSpec.isFetchDependencies()) {
			throw new PackageStartupException(where + " (" + theSpec.id()
					+ "): fetchDependencies must be false (offline); list each dependency as its own entry");
		}
		byte[] bytes;
		if (url.startsWith("file:")) {
			Path path;
			try {
				path = Paths.get(new URI(url));
			} catch (Exception e) {
				throw new PackageStartupException(where + " (" + theSpec.id() + "): invalid packageUrl '" + url
						+ "' (expected file:///absolute/path/package.tgz): " + e.getMessage(), e);
			}
			if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
				throw new PackageStartupException("FHIR package file for " + theSpec.id() + " is missing or unreadable: "
						+ path + " (" + where + ".packageUrl=" + url + "; check FHIR_PACKAGE_DIR)");
			}
			try {
				bytes = Files.readAllBytes(path);
			} catch (Exception e) {
				throw new PackageStartupException("Cannot read FHIR package file for " + theSpec.id() + ": " + path
						+ ": " + e.getMessage(), e);
			}
		} else if (url.startsWith("classpath:")) {
			try (var in = getClass().getClassLoader().getResourceAsStream(StringUtils.removeStart(url.substring(10), "/"))) {
				if (in == null) {
					throw new PackageStartupException("FHIR package for " + theSpec.id() + " not found on classpath: " + url);
				}
				bytes = in.readAllBytes();
			} catch (PackageStartupException e) {
				throw e;
			} catch (Exception e) {
				throw new PackageStartupException("Cannot read FHIR package " + theSpec.id() + " from " + url, e);
			}
		} else {
			throw new PackageStartupException(where + " (" + theSpec.id() + "): packageUrl '" + url
					+ "' is not a file: or classpath: URL; this server never downloads packages");
		}
		NpmPackage npm;
		try {
			npm = NpmPackage.fromPackage(new ByteArrayInputStream(bytes));
		} catch (Exception e) {
			throw new PackageStartupException("FHIR package file for " + theSpec.id() + " (" + url
					+ ") is not a readable NPM package (.tgz): " + e.getMessage(), e);
		}
		if (!theSpec.getName().equals(npm.name()) || !theSpec.getVersion().equals(npm.version())) {
			throw new PackageStartupException(where + ": configured as " + theSpec.id() + " but " + url + " contains "
					+ npm.name() + "#" + npm.version());
		}
		return new Loaded(theKey, theSpec, npm);
	}

	/** Stable topological order: configured order, except that a package comes after the configured packages it depends on. */
	private static List<Loaded> dependencyOrder(Map<String, Loaded> theLoaded) {
		Map<String, Loaded> byName = new LinkedHashMap<>();
		theLoaded.values().forEach(l -> byName.put(l.spec.getName(), l));
		List<Loaded> out = new ArrayList<>();
		Set<String> done = new LinkedHashSet<>();
		Set<String> visiting = new LinkedHashSet<>();
		for (Loaded l : theLoaded.values()) {
			visit(l, byName, done, visiting, out);
		}
		return out;
	}

	private static void visit(Loaded l, Map<String, Loaded> byName, Set<String> done, Set<String> visiting, List<Loaded> out) {
		String name = l.spec.getName();
		if (done.contains(name) || !visiting.add(name)) {
			return;
		}
		for (String dep : l.npm.dependencies()) {
			// NpmPackage.dependencies() gives "name#version"
			String depName = StringUtils.substringBefore(dep, "#");
			Loaded d = byName.get(depName);
			if (d != null) {
				visit(d, byName, done, visiting, out);
			}
		}
		visiting.remove(name);
		done.add(name);
		out.add(l);
	}

	/** Start-up failure caused by the package configuration or a package file. */
	public static class PackageStartupException extends RuntimeException {
		public PackageStartupException(String theMessage) {
			super(theMessage);
		}

		public PackageStartupException(String theMessage, Throwable theCause) {
			super(theMessage, theCause);
		}
	}
}

package fr.tddui.hapi;

import ca.uhn.fhir.context.FhirVersionEnum;
import ca.uhn.fhir.jpa.packages.PackageInstallationSpec;
import org.springframework.boot.context.properties.ConfigurationProperties;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The subset of the official hapiproject/hapi image's {@code hapi.fhir.*} settings that this
 * launcher understands. Names are the image's own (snake_case in the yaml; Spring relaxed binding
 * maps them onto these camelCase fields, and env vars such as
 * {@code HAPI_FHIR_VALIDATION_REQUESTS_ENABLED} work too). Unknown keys are ignored, so the same
 * yaml can carry settings meant only for the official image.
 */
@ConfigurationProperties(prefix = "hapi.fhir")
public class HapiFhirProperties {

	/** Only R4 is supported by this launcher. */
	private String fhirVersion = "R4";

	/** Hard-coded base URL used in links/Location headers; empty = derived from the request. */
	private String serverAddress;

	private int defaultPageSize = 20;
	private int maxPageSize = 200;
	private boolean defaultPrettyPrint = true;
	private String defaultEncoding = "JSON";
	private boolean narrativeEnabled = false;

	private boolean allowExternalReferences = false;
	private boolean enforceReferentialIntegrityOnWrite = true;
	private boolean enforceReferentialIntegrityOnDelete = true;
	private boolean allowMultipleDelete = false;
	private boolean expungeEnabled = false;
	/** hapi.fhir.mass_ingestion_mode_enabled, as in the official starter (JpaStorageSettings#setMassIngestionMode). */
	private boolean massIngestionModeEnabled = false;
	private boolean autoCreatePlaceholderReferenceTargets = false;
	/**
	 * hapi.fhir.dao_scheduling_enabled (official key, default true): the stale-search cleanup runs on this
	 * node. With several nodes on one database, true on exactly one of them.
	 */
	private boolean daoSchedulingEnabled = true;
	/** hapi.fhir.auto_version_reference_at_paths: references stored with the target's version (official key). */
	private List<String> autoVersionReferenceAtPaths = new ArrayList<>();

	/** Official default is true; must be false to install draft (ballot) profiles as resources. */
	private boolean validateResourceStatusForPackageUpload = true;

	/** hapi.fhir.implementationguides.&lt;key&gt;.* (kept in yaml order, re-sorted by dependencies). */
	/** Official default is true; needs Hibernate Search, which this launcher leaves disabled. */
	private boolean preExpandValueSets = false;

	private Map<String, IgSpec> implementationguides = new LinkedHashMap<>();

	private Validation validation = new Validation();

	/** hapi.fhir.tester.&lt;id&gt;.*: the servers the web tester UI offers (see TesterUiConfig). */
	private Map<String, TesterServer> tester = new LinkedHashMap<>();

	/**
	 * hapi.fhir.custom-interceptor-classes: fully qualified class names registered on the RestfulServer,
	 * as in the official starter (Spring bean of that type if any, else a new instance). The companion
	 * key hapi.fhir.custom-bean-packages is read by FhirServerConfig's @ComponentScan.
	 */
	private List<String> customInterceptorClasses = new ArrayList<>();

	public static class Validation {
		private boolean requestsEnabled = false;
		private boolean responsesEnabled = false;

		public boolean isRequestsEnabled() {
			return requestsEnabled;
		}

		public void setRequestsEnabled(boolean requestsEnabled) {
			this.requestsEnabled = requestsEnabled;
		}

		public boolean isResponsesEnabled() {
			return responsesEnabled;
		}

		public void setResponsesEnabled(boolean responsesEnabled) {
			this.responsesEnabled = responsesEnabled;
		}
	}

	/** One hapi.fhir.tester entry, with the official image's field names. */
	public static class TesterServer {
		private String name;
		private String serverAddress;
		private boolean refuseToFetchThirdPartyUrls = true;
		private FhirVersionEnum fhirVersion = FhirVersionEnum.R4;

		public String getName() {
			return name;
		}

		public void setName(String name) {
			this.name = name;
		}

		public String getServerAddress() {
			return serverAddress;
		}

		public void setServerAddress(String serverAddress) {
			this.serverAddress = serverAddress;
		}

		public boolean isRefuseToFetchThirdPartyUrls() {
			return refuseToFetchThirdPartyUrls;
		}

		public void setRefuseToFetchThirdPartyUrls(boolean refuseToFetchThirdPartyUrls) {
			this.refuseToFetchThirdPartyUrls = refuseToFetchThirdPartyUrls;
		}

		public FhirVersionEnum getFhirVersion() {
			return fhirVersion;
		}

		public void setFhirVersion(FhirVersionEnum fhirVersion) {
			this.fhirVersion = fhirVersion;
		}
	}

	/** Same field names as HAPI's PackageInstallationSpec, which the official image binds directly. */
	public static class IgSpec {
		private String name;
		private String version;
		private String packageUrl;
		private PackageInstallationSpec.InstallModeEnum installMode = PackageInstallationSpec.InstallModeEnum.STORE_AND_INSTALL;
		private boolean fetchDependencies = false;
		private boolean reloadExisting = true;
		private List<String> installResourceTypes = new ArrayList<>();

		public String getName() {
			return name;
		}

		public void setName(String name) {
			this.name = name;
		}

		public String getVersion() {
			return version;
		}

		public void setVersion(String version) {
			this.version = version;
		}

		public String getPackageUrl() {
			return packageUrl;
		}

		public void setPackageUrl(String packageUrl) {
			this.packageUrl = packageUrl;
		}

		public PackageInstallationSpec.InstallModeEnum getInstallMode() {
			return installMode;
		}

		public void setInstallMode(PackageInstallationSpec.InstallModeEnum installMode) {
			this.installMode = installMode;
		}

		public boolean isFetchDependencies() {
			return fetchDependencies;
		}

		public void setFetchDependencies(boolean fetchDependencies) {
			this.fetchDependencies = fetchDependencies;
		}

		public boolean isReloadExisting() {
			return reloadExisting;
		}

		public void setReloadExisting(boolean reloadExisting) {
			this.reloadExisting = reloadExisting;
		}

		public List<String> getInstallResourceTypes() {
			return installResourceTypes;
		}

		public void setInstallResourceTypes(List<String> installResourceTypes) {
			this.installResourceTypes = installResourceTypes;
		}

		public String id() {
			return name + "#" + version;
		}
	}

	public String getFhirVersion() {
		return fhirVersion;
	}

	public void setFhirVersion(String fhirVersion) {
		this.fhirVersion = fhirVersion;
	}

	public String getServerAddress() {
		return serverAddress;
	}

	public void setServerAddress(String serverAddress) {
		this.serverAddress = serverAddress;
	}

	public int getDefaultPageSize() {
		return defaultPageSize;
	}

	public void setDefaultPageSize(int defaultPageSize) {
		this.defaultPageSize = defaultPageSize;
	}

	public int getMaxPageSize() {
		return maxPageSize;
	}

	public void setMaxPageSize(int maxPageSize) {
		this.maxPageSize = maxPageSize;
	}

	public boolean isDefaultPrettyPrint() {
		return defaultPrettyPrint;
	}

	public void setDefaultPrettyPrint(boolean defaultPrettyPrint) {
		this.defaultPrettyPrint = defaultPrettyPrint;
	}

	public String getDefaultEncoding() {
		return defaultEncoding;
	}

	public void setDefaultEncoding(String defaultEncoding) {
		this.defaultEncoding = defaultEncoding;
	}

	public boolean isNarrativeEnabled() {
		return narrativeEnabled;
	}

	public void setNarrativeEnabled(boolean narrativeEnabled) {
		this.narrativeEnabled = narrativeEnabled;
	}

	public boolean isAllowExternalReferences() {
		return allowExternalReferences;
	}

	public void setAllowExternalReferences(boolean allowExternalReferences) {
		this.allowExternalReferences = allowExternalReferences;
	}

	public boolean isEnforceReferentialIntegrityOnWrite() {
		return enforceReferentialIntegrityOnWrite;
	}

	public void setEnforceReferentialIntegrityOnWrite(boolean enforceReferentialIntegrityOnWrite) {
		this.enforceReferentialIntegrityOnWrite = enforceReferentialIntegrityOnWrite;
	}

	public boolean isEnforceReferentialIntegrityOnDelete() {
		return enforceReferentialIntegrityOnDelete;
	}

	public void setEnforceReferentialIntegrityOnDelete(boolean enforceReferentialIntegrityOnDelete) {
		this.enforceReferentialIntegrityOnDelete = enforceReferentialIntegrityOnDelete;
	}

	public boolean isAllowMultipleDelete() {
		return allowMultipleDelete;
	}

	public void setAllowMultipleDelete(boolean allowMultipleDelete) {
		this.allowMultipleDelete = allowMultipleDelete;
	}

	public boolean isMassIngestionModeEnabled() {
		return massIngestionModeEnabled;
	}

	public void setMassIngestionModeEnabled(boolean massIngestionModeEnabled) {
		this.massIngestionModeEnabled = massIngestionModeEnabled;
	}

	public boolean isExpungeEnabled() {
		return expungeEnabled;
	}

	public void setExpungeEnabled(boolean expungeEnabled) {
		this.expungeEnabled = expungeEnabled;
	}

	public boolean isDaoSchedulingEnabled() {
		return daoSchedulingEnabled;
	}

	public void setDaoSchedulingEnabled(boolean daoSchedulingEnabled) {
		this.daoSchedulingEnabled = daoSchedulingEnabled;
	}

	public boolean isAutoCreatePlaceholderReferenceTargets() {
		return autoCreatePlaceholderReferenceTargets;
	}

	public void setAutoCreatePlaceholderReferenceTargets(boolean autoCreatePlaceholderReferenceTargets) {
		this.autoCreatePlaceholderReferenceTargets = autoCreatePlaceholderReferenceTargets;
	}

	public List<String> getAutoVersionReferenceAtPaths() {
		return autoVersionReferenceAtPaths;
	}

	public void setAutoVersionReferenceAtPaths(List<String> autoVersionReferenceAtPaths) {
		this.autoVersionReferenceAtPaths = autoVersionReferenceAtPaths;
	}

	public boolean isValidateResourceStatusForPackageUpload() {
		return validateResourceStatusForPackageUpload;
	}

	public void setValidateResourceStatusForPackageUpload(boolean validateResourceStatusForPackageUpload) {
		this.validateResourceStatusForPackageUpload = validateResourceStatusForPackageUpload;
	}

	public boolean isPreExpandValueSets() {
		return preExpandValueSets;
	}

	public void setPreExpandValueSets(boolean preExpandValueSets) {
		this.preExpandValueSets = preExpandValueSets;
	}

	public Map<String, IgSpec> getImplementationguides() {
		return implementationguides;
	}

	public void setImplementationguides(Map<String, IgSpec> implementationguides) {
		this.implementationguides = implementationguides;
	}

	public List<String> getCustomInterceptorClasses() {
		return customInterceptorClasses;
	}

	public void setCustomInterceptorClasses(List<String> customInterceptorClasses) {
		this.customInterceptorClasses = customInterceptorClasses;
	}

	public Validation getValidation() {
		return validation;
	}

	public void setValidation(Validation validation) {
		this.validation = validation;
	}

	public Map<String, TesterServer> getTester() {
		return tester;
	}

	public void setTester(Map<String, TesterServer> tester) {
		this.tester = tester;
	}
}

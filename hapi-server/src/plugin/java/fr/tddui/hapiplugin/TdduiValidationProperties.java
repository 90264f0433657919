package fr.tddui.hapiplugin;

import org.springframework.boot.context.properties.ConfigurationProperties;

import java.util.ArrayList;
import java.util.List;

/**
 * Settings of the TDDUI tolerant request validation ({@code tddui.hapi.*}), read by this plug-in
 * both in the official hapiproject/hapi image and in our launcher (the starter itself ignores them).
 */
@ConfigurationProperties(prefix = "tddui.hapi")
public class TdduiValidationProperties {

	/** What HAPI does with an incoming request ({@code tddui.hapi.request-validation}). */
	public enum RequestValidation {
		/** Validate every request against the installed profiles; ERROR refuses it (422). */
		FULL,
		/**
		 * Store what arrives without validating it: the gateway in front has already judged it
		 * (and refuses whatever this validator would refuse: the differential test is the evidence).
		 * Only for a HAPI whose port nothing but the gateway can reach.
		 */
		TRUSTED
	}

	private RequestValidation requestValidation = RequestValidation.FULL;

	/**
	 * Severity for codes from code systems the server does not know
	 * (HAPI's UnknownCodeSystemWarningValidationSupport defaults to ERROR): ERROR, WARNING or INFORMATION.
	 */
	private String unknownCodeSystemSeverity = "WARNING";

	/**
	 * Canonical URLs (StructureDefinitions, ValueSets) that the installed packages reference but
	 * that are not available offline (the packages' "known gaps"). A validation ERROR whose text
	 * names one of them is downgraded to a WARNING (text kept, prefixed). See KnownGapsValidatorModule.
	 */
	private List<String> toleratedMissingCanonicals = new ArrayList<>();

	/**
	 * {@code file:} URLs of FHIR packages served to the validator from the files themselves
	 * ({@link PackageFileValidationSupport}), not installed in the database.
	 */
	private List<String> validationPackages = new ArrayList<>();

	/**
	 * Packages of the closure that HAPI carries itself ({@code name#version}): hl7.fhir.r4.core is
	 * HAPI's own R4 definitions (DefaultProfileValidationSupport). Logged; the gateway's tests compare it.
	 */
	private List<String> builtInPackages = new ArrayList<>();

	/**
	 * R5 cross-version extensions to build in the validation chain ({@link CrossVersionExtensionSupport}):
	 * each with its {@code url} and the R5 element's {@code type}.
	 */
	private List<CrossVersionExtension> crossVersionExtensions = new ArrayList<>();

	public static class CrossVersionExtension {
		private String url;
		private String type;

		public String getUrl() {
			return url;
		}

		public void setUrl(String url) {
			this.url = url;
		}

		public String getType() {
			return type;
		}

		public void setType(String type) {
			this.type = type;
		}
	}

	public List<CrossVersionExtension> getCrossVersionExtensions() {
		return crossVersionExtensions;
	}

	public void setCrossVersionExtensions(List<CrossVersionExtension> crossVersionExtensions) {
		this.crossVersionExtensions = crossVersionExtensions;
	}

	public List<String> getValidationPackages() {
		return validationPackages;
	}

	public void setValidationPackages(List<String> validationPackages) {
		this.validationPackages = validationPackages;
	}

	public List<String> getBuiltInPackages() {
		return builtInPackages;
	}

	public void setBuiltInPackages(List<String> builtInPackages) {
		this.builtInPackages = builtInPackages;
	}

	/** Master switch for {@link KnownGapsValidatorModule} (false = raw HAPI validation results). */
	private boolean tolerateKnownGaps = true;

	public RequestValidation getRequestValidation() {
		return requestValidation;
	}

	public void setRequestValidation(RequestValidation requestValidation) {
		this.requestValidation = requestValidation;
	}

	public boolean isTolerateKnownGaps() {
		return tolerateKnownGaps;
	}

	public void setTolerateKnownGaps(boolean tolerateKnownGaps) {
		this.tolerateKnownGaps = tolerateKnownGaps;
	}

	public String getUnknownCodeSystemSeverity() {
		return unknownCodeSystemSeverity;
	}

	public void setUnknownCodeSystemSeverity(String unknownCodeSystemSeverity) {
		this.unknownCodeSystemSeverity = unknownCodeSystemSeverity;
	}

	public List<String> getToleratedMissingCanonicals() {
		return toleratedMissingCanonicals;
	}

	public void setToleratedMissingCanonicals(List<String> toleratedMissingCanonicals) {
		this.toleratedMissingCanonicals = toleratedMissingCanonicals;
	}
}

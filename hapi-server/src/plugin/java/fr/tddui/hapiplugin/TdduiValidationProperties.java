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

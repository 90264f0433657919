package fr.tddui.hapiplugin;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.IValidationContext;
import ca.uhn.fhir.validation.IValidatorModule;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationOptions;
import ca.uhn.fhir.validation.ValidationResult;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Resource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Wraps HAPI's instance validator (JPA validation chain) and tolerates the known gaps of the
 * offline FHIR packages, without hiding other errors. Three narrow rules, applied to ERROR/FATAL
 * messages only; a tolerated message is kept, downgraded to WARNING and prefixed so it stays visible:
 * <ol>
 *   <li><b>Missing canonicals</b>: the message names one of the canonical URLs listed in
 *   {@code tddui.hapi.tolerated-missing-canonicals} (definitions the packages reference but that
 *   are in no package of the closure, e.g. the NOS ValueSet JDV-J78-Civilite-RASS).</li>
 *   <li><b>Unknown code systems</b>: the message is about a code from a code system that this
 *   server does not have at all (checked against the validation support chain), e.g. a required
 *   FR Core binding whose NOS code system is not shipped. The code cannot be checked, so this is a
 *   warning, as for any unknown code system. A code from a code system the server HAS is still
 *   checked and still fails.</li>
 *   <li><b>Reference target profile</b>: "Unable to find a profile match for X among choices: P1, P2"
 *   is re-checked by validating X (found in the same Bundle) against each Pi with rules 1-2 applied;
 *   it is downgraded only if X conforms to one of them once the known gaps are tolerated.</li>
 * </ol>
 */
public class KnownGapsValidatorModule implements IValidatorModule {

	private static final Logger ourLog = LoggerFactory.getLogger(KnownGapsValidatorModule.class);

	static final String GAP_PREFIX = "[tolerated: known package gap] ";
	static final String UNKNOWN_CS_PREFIX = "[tolerated: unknown code system] ";
	static final String PROFILE_MATCH_PREFIX = "[tolerated: target conforms once known package gaps are tolerated] ";

	private static final List<Pattern> UNKNOWN_CS_PATTERNS = List.of(
			Pattern.compile("CodeSystem is unknown and can't be validated: (\\S+)"),
			Pattern.compile("Unable to expand ValueSet because CodeSystem could not be found: (\\S+)"),
			Pattern.compile("The Coding provided \\(([^#)\\s]+)#"),
			Pattern.compile("A definition for CodeSystem '([^']+)' could not be found"),
			Pattern.compile("Unknown code system:? '?([^'\\s]+)"));
	private static final Pattern CODES_LIST = Pattern.compile("\\(codes = ([^)]+)\\)\\s*$");
	private static final Pattern PROFILE_MATCH =
			Pattern.compile("^Unable to find a profile match for (\\S+) among choices: (.+)$");

	private final FhirContext myFhirContext;
	private final IValidatorModule myDelegate;
	private final IValidationSupport myValidationSupport;
	private final List<String> myCanonicals;

	public KnownGapsValidatorModule(
			FhirContext theFhirContext,
			IValidatorModule theDelegate,
			IValidationSupport theValidationSupport,
			List<String> theCanonicals) {
		myFhirContext = theFhirContext;
		myDelegate = theDelegate;
		myValidationSupport = theValidationSupport;
		myCanonicals = List.copyOf(theCanonicals);
	}

	@Override
	public void validateResource(IValidationContext<IBaseResource> theCtx) {
		int before = theCtx.getMessages().size();
		myDelegate.validateResource(theCtx);
		List<SingleValidationMessage> mine = theCtx.getMessages().subList(before, theCtx.getMessages().size());
		applySimpleRules(mine);

		for (SingleValidationMessage next : mine) {
			if (!isError(next) || next.getMessage() == null) {
				continue;
			}
			Matcher m = PROFILE_MATCH.matcher(next.getMessage().trim());
			if (m.find()) {
				String conformsTo = recheckTargetProfiles(theCtx, m.group(1), m.group(2));
				if (conformsTo != null) {
					next.setSeverity(ResultSeverityEnum.WARNING);
					next.setMessage(PROFILE_MATCH_PREFIX + "(" + conformsTo + ") " + next.getMessage());
				}
			}
		}
	}

	private void applySimpleRules(List<SingleValidationMessage> theMessages) {
		for (SingleValidationMessage next : theMessages) {
			if (!isError(next) || next.getMessage() == null) {
				continue;
			}
			String text = next.getMessage();
			if (mentionsToleratedCanonical(text)) {
				next.setSeverity(ResultSeverityEnum.WARNING);
				next.setMessage(GAP_PREFIX + text);
			} else if (isAboutUnknownCodeSystem(text)) {
				next.setSeverity(ResultSeverityEnum.WARNING);
				next.setMessage(UNKNOWN_CS_PREFIX + text);
			}
		}
	}

	private static boolean isError(SingleValidationMessage theMessage) {
		return theMessage.getSeverity() == ResultSeverityEnum.ERROR
				|| theMessage.getSeverity() == ResultSeverityEnum.FATAL;
	}

	boolean mentionsToleratedCanonical(String theText) {
		for (String canonical : myCanonicals) {
			if (theText.contains(canonical)) {
				return true;
			}
		}
		return false;
	}

	boolean isAboutUnknownCodeSystem(String theText) {
		// "None of the codings provided are in the value set ... (codes = s1#c1, s2#c2)": every system unknown
		Matcher codes = CODES_LIST.matcher(theText);
		if (codes.find()) {
			for (String code : codes.group(1).split(",\\s*")) {
				int hash = code.indexOf('#');
				if (hash <= 0 || myValidationSupport.fetchCodeSystem(code.substring(0, hash)) != null) {
					return false;
				}
			}
			return true;
		}
		for (Pattern p : UNKNOWN_CS_PATTERNS) {
			Matcher m = p.matcher(theText);
			if (m.find()) {
				String system = m.group(1);
				int pipe = system.indexOf('|');
				if (pipe > 0) {
					system = system.substring(0, pipe);
				}
				return myValidationSupport.fetchCodeSystem(system) == null;
			}
		}
		return false;
	}

	/** @return the candidate profile the target conforms to (known gaps tolerated), or null */
	private String recheckTargetProfiles(IValidationContext<IBaseResource> theCtx, String theRef, String theChoices) {
		IBaseResource root = theCtx.getResource();
		if (!(root instanceof Bundle bundle)) {
			return null;
		}
		Resource target = findInBundle(bundle, theRef);
		if (target == null) {
			return null;
		}
		FhirValidator validator = myFhirContext.newValidator();
		validator.registerValidatorModule(myDelegate);
		for (String candidate : theChoices.split(",")) {
			String profile = candidate.trim();
			if (profile.isEmpty()) {
				continue;
			}
			try {
				ValidationResult result =
						validator.validateWithResult(target, new ValidationOptions().addProfile(profile));
				List<SingleValidationMessage> messages = new ArrayList<>(result.getMessages());
				applySimpleRules(messages);
				if (messages.stream().noneMatch(KnownGapsValidatorModule::isError)) {
					return profile;
				}
			} catch (RuntimeException e) {
				ourLog.warn("Could not re-check {} against {}: {}", theRef, profile, e.toString());
			}
		}
		return null;
	}

	private static Resource findInBundle(Bundle theBundle, String theRef) {
		for (Bundle.BundleEntryComponent entry : theBundle.getEntry()) {
			Resource r = entry.getResource();
			if (r == null) {
				continue;
			}
			String fullUrl = entry.getFullUrl();
			if (fullUrl != null && (fullUrl.equals(theRef) || fullUrl.endsWith("/" + theRef))) {
				return r;
			}
			if (r.getIdElement().hasIdPart()
					&& theRef.equals(r.fhirType() + "/" + r.getIdElement().getIdPart())) {
				return r;
			}
		}
		return null;
	}
}

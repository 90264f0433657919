package fr.tddui.hapiplugin;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.interceptor.RequestValidatingInterceptor;
import ca.uhn.fhir.validation.IValidatorModule;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.stereotype.Component;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;

/**
 * HAPI's {@link RequestValidatingInterceptor} (fail on ERROR: HTTP 422 + OperationOutcome, nothing
 * written), validating with the server's own instance validator wrapped in
 * {@link KnownGapsValidatorModule}, so errors caused only by the known gaps of the offline FHIR
 * packages become prefixed warnings.
 *
 * <p>Registration, identical in the official hapiproject/hapi image and in our launcher:</p>
 * <pre>
 * hapi.fhir.validation.requests_enabled: false      # not HAPI's strict one as well
 * hapi.fhir.custom-bean-packages: fr.tddui.hapiplugin
 * hapi.fhir.custom-interceptor-classes: fr.tddui.hapiplugin.TolerantRequestValidatingInterceptor
 * </pre>
 * The starter takes this bean from the Spring context (it has no no-argument constructor, so
 * listing the class without the bean package fails start-up instead of running unvalidated).
 *
 * <p>With {@code tddui.hapi.request-validation: trusted} the interceptor stays registered but
 * validates nothing: requests are stored as received (transactions, referential integrity and every
 * other server rule still apply). The registration stays the same in both modes, so switching is
 * one environment variable ({@code HAPI_REQUEST_VALIDATION}) and never a different class list.</p>
 */
@Component
public class TolerantRequestValidatingInterceptor extends RequestValidatingInterceptor {

	private static final Logger ourLog = LoggerFactory.getLogger(TolerantRequestValidatingInterceptor.class);

	private final boolean myTrusted;

	public TolerantRequestValidatingInterceptor(
			IValidatorModule theInstanceValidator,
			IValidationSupport theValidationSupport,
			ObjectProvider<UnknownCodeSystemWarningValidationSupport> theUnknownCodeSystemSupport,
			TdduiValidationProperties theProps) {
		myTrusted = theProps.getRequestValidation() == TdduiValidationProperties.RequestValidation.TRUSTED;
		if (myTrusted) {
			ourLog.warn("TDDUI request validation OFF (tddui.hapi.request-validation: trusted): requests are stored "
					+ "without profile validation; only the gateway may reach this server's port");
		}
		// Codes from code systems the server does not know: HAPI's default is ERROR
		IValidationSupport.IssueSeverity severity = IValidationSupport.IssueSeverity.valueOf(
				theProps.getUnknownCodeSystemSeverity().trim().toUpperCase(Locale.ROOT));
		UnknownCodeSystemWarningValidationSupport unknownCodeSystemSupport = theUnknownCodeSystemSupport.getIfAvailable();
		if (unknownCodeSystemSupport != null) {
			unknownCodeSystemSupport.setNonExistentCodeSystemSeverity(severity);
		} else {
			ourLog.warn("No UnknownCodeSystemWarningValidationSupport bean: tddui.hapi.unknown-code-system-severity ignored");
		}

		if (!theProps.getValidationPackages().isEmpty() || !theProps.getCrossVersionExtensions().isEmpty()) {
			if (!(theValidationSupport instanceof ValidationSupportChain chain)) {
				throw new IllegalStateException("tddui.hapi.validation-packages and cross-version-extensions need "
						+ "HAPI's ValidationSupportChain, found " + theValidationSupport.getClass().getName());
			}
			FhirContext context = theValidationSupport.getFhirContext();
			if (!theProps.getValidationPackages().isEmpty()) {
				chain.addValidationSupport(new PackageFileValidationSupport(context, theProps.getValidationPackages()));
			}
			if (!theProps.getCrossVersionExtensions().isEmpty()) {
				Map<String, String> types = new HashMap<>();
				theProps.getCrossVersionExtensions().forEach(e -> types.put(e.getUrl(), e.getType()));
				chain.addValidationSupport(new CrossVersionExtensionSupport(context, types));
			}
			chain.invalidateCaches();
		}
		ourLog.info("Packages HAPI carries itself: {}", theProps.getBuiltInPackages());

		IValidatorModule module = theInstanceValidator;
		if (theProps.isTolerateKnownGaps()) {
			module = new KnownGapsValidatorModule(theValidationSupport.getFhirContext(), theInstanceValidator,
					theValidationSupport, theProps.getToleratedMissingCanonicals());
		}
		setFailOnSeverity(ResultSeverityEnum.ERROR);
		setValidatorModules(List.of(module));
		if (!myTrusted) {
			ourLog.info("TDDUI request validation (fail on ERROR); unknown code systems: {}; known package gaps tolerated: {}{}",
					severity, theProps.isTolerateKnownGaps(),
					theProps.isTolerateKnownGaps() ? ", missing canonicals " + theProps.getToleratedMissingCanonicals() : "");
		}
	}

	/** The hook of {@link RequestValidatingInterceptor}, inherited: in trusted mode it lets every request through. */
	@Override
	public boolean incomingRequestPostProcessed(
			RequestDetails theRequestDetails, HttpServletRequest theRequest, HttpServletResponse theResponse) {
		return myTrusted || super.incomingRequestPostProcessed(theRequestDetails, theRequest, theResponse);
	}
}

package fr.tddui.hapi;

import ca.uhn.fhir.to.FhirTesterMvcConfig;
import ca.uhn.fhir.to.TesterConfig;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Condition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.core.io.ClassPathResource;
import org.springframework.core.io.Resource;
import org.springframework.core.io.ResourceLoader;
import org.springframework.core.type.AnnotatedTypeMetadata;

import java.util.List;

/**
 * HAPI's web tester UI (hapi-fhir-testpage-overlay) at "/", beside the FHIR API at /fhir, configured
 * by the official image's {@code hapi.fhir.tester.<id>.*} keys and, as there, switched on whenever
 * such a key exists.
 *
 * <p>The overlay is made for a war: its templates ({@code /WEB-INF/templates/}) and static files
 * ({@code /css/}, {@code /js/}...) are looked up in the servlet context, which an executable jar does
 * not have. The build unpacks them into {@code classpath:hapi-tester/}, and
 * {@link #serveOverlayFromClasspath} makes those servlet-context paths resolve there.</p>
 */
@Configuration
@Conditional(TesterUiConfig.TesterConfigured.class)
@Import(FhirTesterMvcConfig.class)
public class TesterUiConfig {

	static final String CLASSPATH_ROOT = "hapi-tester";

	/** The servlet-context folders FhirTesterMvcConfig reads its templates and static files from. */
	static final List<String> OVERLAY_FOLDERS = List.of("/WEB-INF/templates/", "/css/", "/fa/", "/fonts/", "/img/", "/js/");

	@Bean
	public TesterConfig testerConfig(HapiFhirProperties theProps) {
		TesterConfig retVal = new TesterConfig();
		theProps.getTester().forEach((id, server) -> {
			retVal.addServer()
					.withId(id)
					.withFhirVersion(server.getFhirVersion())
					.withBaseUrl(server.getServerAddress())
					.withName(server.getName());
			retVal.setRefuseToFetchThirdPartyUrls(server.isRefuseToFetchThirdPartyUrls());
		});
		return retVal;
	}

	/** Registered before the context refreshes (see TdduiHapiApplication#main). */
	static void serveOverlayFromClasspath(ConfigurableApplicationContext theContext) {
		theContext.addProtocolResolver(TesterUiConfig::overlayResource);
	}

	/** A servlet-context path of the overlay, as a class-path resource; null for every other location. */
	static Resource overlayResource(String theLocation, ResourceLoader theLoader) {
		for (String folder : OVERLAY_FOLDERS) {
			if (theLocation.startsWith(folder)) {
				return new ClassPathResource(CLASSPATH_ROOT + theLocation, theLoader.getClassLoader());
			}
		}
		return null;
	}

	/** True when at least one hapi.fhir.tester.&lt;id&gt; entry is configured (FhirTesterConfigCondition's rule). */
	static class TesterConfigured implements Condition {
		@Override
		public boolean matches(ConditionContext theContext, AnnotatedTypeMetadata theMetadata) {
			return Binder.get(theContext.getEnvironment())
					.bind("hapi.fhir.tester", Bindable.mapOf(String.class, HapiFhirProperties.TesterServer.class))
					.map(servers -> !servers.isEmpty())
					.orElse(false);
		}
	}
}

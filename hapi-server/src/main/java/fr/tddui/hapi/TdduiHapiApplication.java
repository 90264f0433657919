package fr.tddui.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchRestClientAutoConfiguration;
import org.springframework.boot.autoconfigure.orm.jpa.JpaProperties;
import org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Import;

/**
 * TDDUI HAPI FHIR JPA server (FHIR R4), served at /fhir.
 *
 * <p>Spring configuration graph: HAPI's JPA R4 server ({@link JpaR4Config} + {@link HapiJpaConfig}),
 * Batch2 (needed by the package installer and reindexing), plus our own {@link FhirServerConfig}
 * (storage settings, EntityManagerFactory, RestfulServer, validation), {@link PackageStartupInstaller}
 * and HAPI's web tester UI at "/" ({@link TesterUiConfig}).
 * Subscriptions, MDM, CR, IPS, CDS hooks, OpenAPI and Elasticsearch are left out.</p>
 */
@SpringBootApplication(exclude = {ElasticsearchRestClientAutoConfiguration.class, ThymeleafAutoConfiguration.class})
@EnableConfigurationProperties({HapiFhirProperties.class, JpaProperties.class})
@Import({
	ThreadPoolFactoryConfig.class,
	JpaR4Config.class,
	HapiJpaConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	// in-memory message broker (LinkedBlockingBrokerClient) used by Batch2 work channels
	SubscriptionChannelConfig.class
})
public class TdduiHapiApplication {

	private static final Logger ourLog = LoggerFactory.getLogger(TdduiHapiApplication.class);

	public static void main(String[] args) {
		try {
			SpringApplication application = new SpringApplication(TdduiHapiApplication.class);
			application.addInitializers(TesterUiConfig::serveOverlayFromClasspath);
			application.run(args);
		} catch (Throwable t) {
			// Spring Boot has already logged the cause; make sure no leftover non-daemon
			// thread keeps the JVM alive and that callers see a non-zero exit code.
			Throwable root = t;
			while (root.getCause() != null && root.getCause() != root) {
				root = root.getCause();
			}
			ourLog.error("TDDUI HAPI start-up FAILED: {}", root.getMessage());
			System.exit(1);
		}
	}
}

package fr.tddui.hapi;

import ca.uhn.fhir.context.ConfigurationException;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.narrative.DefaultThymeleafNarrativeGenerator;
import ca.uhn.fhir.narrative2.NullNarrativeGenerator;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.HardcodedServerAddressStrategy;
import ca.uhn.fhir.rest.server.IncomingRequestAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.RequestValidatingInterceptor;
import ca.uhn.fhir.rest.server.interceptor.ResponseHighlighterInterceptor;
import ca.uhn.fhir.rest.server.interceptor.ResponseValidatingInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import ca.uhn.fhir.validation.IValidatorModule;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import jakarta.persistence.EntityManagerFactory;
import org.apache.commons.lang3.StringUtils;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.orm.jpa.JpaProperties;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Primary;
import org.springframework.core.env.Environment;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

import javax.sql.DataSource;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/**
 * Beans that HAPI's JPA configuration expects the hosting application to provide,
 * and the RestfulServer itself.
 */
@Configuration
public class FhirServerConfig {

	private static final Logger ourLog = LoggerFactory.getLogger(FhirServerConfig.class);

	static final String H2_DIALECT = "ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect";
	static final String POSTGRES_DIALECT = "ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect";

	@Bean
	public JpaStorageSettings jpaStorageSettings(HapiFhirProperties theProps) {
		if (!"R4".equalsIgnoreCase(theProps.getFhirVersion())) {
			throw new ConfigurationException("hapi.fhir.fhir_version=" + theProps.getFhirVersion()
					+ " is not supported by this launcher (R4 only)");
		}
		JpaStorageSettings retVal = new JpaStorageSettings();
		retVal.setAllowExternalReferences(theProps.isAllowExternalReferences());
		retVal.setEnforceReferentialIntegrityOnWrite(theProps.isEnforceReferentialIntegrityOnWrite());
		retVal.setEnforceReferentialIntegrityOnDelete(theProps.isEnforceReferentialIntegrityOnDelete());
		retVal.setAllowMultipleDelete(theProps.isAllowMultipleDelete());
		retVal.setExpungeEnabled(theProps.isExpungeEnabled());
		retVal.setAutoCreatePlaceholderReferenceTargets(theProps.isAutoCreatePlaceholderReferenceTargets());
		retVal.setValidateResourceStatusForPackageUpload(theProps.isValidateResourceStatusForPackageUpload());
		// no Lucene/Elasticsearch: plain SQL indexing only
		retVal.setAdvancedHSearchIndexing(false);
		// ValueSet pre-expansion needs Hibernate Search (disabled): expand in memory when validating
		retVal.setPreExpandValueSets(theProps.isPreExpandValueSets());
		return retVal;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		return new SubscriptionSettings();
	}

	@Bean
	public IBinaryStorageSvc binaryStorageSvc() {
		return new DatabaseBinaryContentStorageSvcImpl();
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			DataSource theDataSource,
			ConfigurableListableBeanFactory theBeanFactory,
			FhirContext theFhirContext,
			JpaStorageSettings theStorageSettings,
			JpaProperties theJpaProperties,
			Environment theEnvironment) {
		LocalContainerEntityManagerFactoryBean retVal =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(theBeanFactory, theFhirContext, theStorageSettings);
		retVal.setPersistenceUnitName("HAPI_PU");
		retVal.setDataSource(theDataSource);
		retVal.setJpaProperties(hibernateProperties(theJpaProperties, theEnvironment));
		return retVal;
	}

	/**
	 * spring.jpa.properties.* passed through to Hibernate, with the defaults the official starter uses.
	 * If no dialect is configured it is derived from spring.datasource.url (H2 or PostgreSQL).
	 */
	static Properties hibernateProperties(JpaProperties theJpaProperties, Environment theEnvironment) {
		Properties props = new Properties();
		props.put("hibernate.hbm2ddl.auto", "update");
		props.put("hibernate.search.enabled", "false");
		props.put("hibernate.format_sql", "false");
		props.put("hibernate.show_sql", "false");
		props.put("hibernate.jdbc.batch_size", "20");
		props.put("hibernate.cache.use_query_cache", "false");
		props.put("hibernate.cache.use_second_level_cache", "false");
		props.put("hibernate.cache.use_structured_entries", "false");
		props.put("hibernate.cache.use_minimal_puts", "false");
		props.putAll(theJpaProperties.getProperties());

		String dialect = props.getProperty("hibernate.dialect");
		String url = theEnvironment.getProperty("spring.datasource.url", "");
		if (StringUtils.isBlank(dialect)) {
			if (url.startsWith("jdbc:postgresql:")) {
				dialect = POSTGRES_DIALECT;
			} else if (url.startsWith("jdbc:h2:")) {
				dialect = H2_DIALECT;
			} else {
				throw new ConfigurationException(
						"spring.jpa.properties.hibernate.dialect is not set and cannot be derived from " + url);
			}
			props.put("hibernate.dialect", dialect);
		} else if (url.startsWith("jdbc:postgresql:") && dialect.equals(H2_DIALECT)) {
			// the common mistake of pointing SPRING_DATASOURCE_URL at Postgres and forgetting the dialect
			ourLog.warn("spring.datasource.url is PostgreSQL but hibernate.dialect is H2: using {}", POSTGRES_DIALECT);
			props.put("hibernate.dialect", POSTGRES_DIALECT);
		}
		ourLog.info("Database {} with dialect {}", url, props.getProperty("hibernate.dialect"));
		return props;
	}

	@Bean
	@Primary
	public JpaTransactionManager transactionManager(EntityManagerFactory theEntityManagerFactory) {
		JpaTransactionManager retVal = new JpaTransactionManager();
		retVal.setEntityManagerFactory(theEntityManagerFactory);
		return retVal;
	}

	@Bean
	public RestfulServer restfulServer(
			IFhirSystemDao<?, ?> theSystemDao,
			HapiFhirProperties theProps,
			TdduiProperties theTdduiProps,
			ResourceProviderFactory theResourceProviderFactory,
			IJpaSystemProvider theSystemProvider,
			JpaStorageSettings theStorageSettings,
			ISearchParamRegistry theSearchParamRegistry,
			IValidationSupport theValidationSupport,
			DatabaseBackedPagingProvider thePagingProvider,
			ValueSetOperationProvider theValueSetOperationProvider,
			IValidatorModule theInstanceValidator,
			UnknownCodeSystemWarningValidationSupport theUnknownCodeSystemSupport) {
		FhirContext ctx = theSystemDao.getContext();
		RestfulServer server = new RestfulServer(ctx);

		ctx.setNarrativeGenerator(
				theProps.isNarrativeEnabled() ? new DefaultThymeleafNarrativeGenerator() : new NullNarrativeGenerator());

		server.registerProviders(theResourceProviderFactory.createProviders());
		// the system provider handles transaction/batch Bundles POSTed to [base]
		server.registerProvider(theSystemProvider);
		server.registerProvider(theValueSetOperationProvider);

		JpaCapabilityStatementProvider capabilities = new JpaCapabilityStatementProvider(
				server, theSystemDao, theStorageSettings, theSearchParamRegistry, theValidationSupport);
		capabilities.setImplementationDescription("TDDUI HAPI FHIR R4 Server");
		server.setServerConformanceProvider(capabilities);

		thePagingProvider.setDefaultPageSize(theProps.getDefaultPageSize());
		thePagingProvider.setMaximumPageSize(theProps.getMaxPageSize());
		server.setPagingProvider(thePagingProvider);

		server.setDefaultPrettyPrint(theProps.isDefaultPrettyPrint());
		server.setDefaultResponseEncoding(EncodingEnum.valueOf(theProps.getDefaultEncoding().toUpperCase(Locale.ROOT)));
		server.registerInterceptor(new ResponseHighlighterInterceptor());

		if (StringUtils.isNotBlank(theProps.getServerAddress())) {
			server.setServerAddressStrategy(new HardcodedServerAddressStrategy(theProps.getServerAddress()));
		} else {
			server.setServerAddressStrategy(new IncomingRequestAddressStrategy());
		}

		// Unknown code systems: warning instead of HAPI's default error
		theUnknownCodeSystemSupport.setNonExistentCodeSystemSeverity(
				IValidationSupport.IssueSeverity.valueOf(theTdduiProps.getUnknownCodeSystemSeverity().toUpperCase(Locale.ROOT)));

		IValidatorModule validatorModule = theInstanceValidator;
		if (theTdduiProps.isTolerateKnownGaps()) {
			validatorModule = new KnownGapsValidatorModule(
					ctx, theInstanceValidator, theValidationSupport, theTdduiProps.getToleratedMissingCanonicals());
			ourLog.info("Validation tolerates known package gaps; missing canonicals: {}",
					theTdduiProps.getToleratedMissingCanonicals());
		}
		if (theProps.getValidation().isRequestsEnabled()) {
			RequestValidatingInterceptor interceptor = new RequestValidatingInterceptor();
			interceptor.setFailOnSeverity(ResultSeverityEnum.ERROR);
			interceptor.setValidatorModules(List.of(validatorModule));
			server.registerInterceptor(interceptor);
			ourLog.info("Request validation enabled (fail on ERROR)");
		}
		if (theProps.getValidation().isResponsesEnabled()) {
			ResponseValidatingInterceptor interceptor = new ResponseValidatingInterceptor();
			interceptor.setFailOnSeverity(ResultSeverityEnum.ERROR);
			interceptor.setValidatorModules(List.of(validatorModule));
			server.registerInterceptor(interceptor);
		}
		return server;
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServletRegistration(RestfulServer theServer) {
		ServletRegistrationBean<RestfulServer> retVal = new ServletRegistrationBean<>(theServer, "/fhir/*");
		retVal.setName("fhirServlet");
		retVal.setLoadOnStartup(1);
		return retVal;
	}
}

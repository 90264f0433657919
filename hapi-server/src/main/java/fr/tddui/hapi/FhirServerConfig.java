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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.NoSuchBeanDefinitionException;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.orm.jpa.JpaProperties;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.ComponentScan;
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
// Same extension point as the official starter (StarterJpaConfig): extra packages to component-scan.
// When the property is empty, Spring scans this class's own package, which is scanned anyway.
@ComponentScan(basePackages = {"${hapi.fhir.custom-bean-packages:}"})
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
		retVal.setMassIngestionMode(theProps.isMassIngestionModeEnabled());
		// as the official starter does: off on every node but one when several share the database
		retVal.setSchedulingDisabled(!theProps.isDaoSchedulingEnabled());
		ourLog.info("Server configured to {} DAO scheduling", theProps.isDaoSchedulingEnabled() ? "enable" : "disable");
		retVal.setAutoCreatePlaceholderReferenceTargets(theProps.isAutoCreatePlaceholderReferenceTargets());
		retVal.setAutoVersionReferenceAtPaths(theProps.getAutoVersionReferenceAtPaths().toArray(new String[0]));
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
			ResourceProviderFactory theResourceProviderFactory,
			IJpaSystemProvider theSystemProvider,
			JpaStorageSettings theStorageSettings,
			ISearchParamRegistry theSearchParamRegistry,
			IValidationSupport theValidationSupport,
			DatabaseBackedPagingProvider thePagingProvider,
			ValueSetOperationProvider theValueSetOperationProvider,
			IValidatorModule theInstanceValidator,
			ApplicationContext theAppContext) {
		FhirContext ctx = theSystemDao.getContext();
		RestfulServer server = new RestfulServer(ctx);
		// versioned references (auto_version_reference_at_paths) must survive parsing and encoding too
		ctx.getParserOptions().setDontStripVersionsFromReferencesAtPaths(theProps.getAutoVersionReferenceAtPaths());

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

		// HAPI's own validating interceptors, exactly as the official starter builds them (plain instance
		// validator, no tolerance). The TDDUI tolerant request validation is a custom interceptor (below).
		if (theProps.getValidation().isRequestsEnabled()) {
			RequestValidatingInterceptor interceptor = new RequestValidatingInterceptor();
			interceptor.setFailOnSeverity(ResultSeverityEnum.ERROR);
			interceptor.setValidatorModules(List.of(theInstanceValidator));
			server.registerInterceptor(interceptor);
			ourLog.info("HAPI request validation enabled (fail on ERROR, no tolerance of package gaps)");
		}
		if (theProps.getValidation().isResponsesEnabled()) {
			ResponseValidatingInterceptor interceptor = new ResponseValidatingInterceptor();
			interceptor.setFailOnSeverity(ResultSeverityEnum.ERROR);
			interceptor.setValidatorModules(List.of(theInstanceValidator));
			server.registerInterceptor(interceptor);
		}

		registerCustomInterceptors(server, theAppContext, theProps.getCustomInterceptorClasses());
		return server;
	}

	/**
	 * {@code hapi.fhir.custom-interceptor-classes}, with the official starter's semantics
	 * (StarterJpaConfig#registerCustomInterceptors): each class is loaded by name; the Spring bean of
	 * that type is used if there is one (see {@code hapi.fhir.custom-bean-packages} on this class),
	 * otherwise the class is instantiated through its public no-argument constructor. Any failure
	 * stops start-up.
	 */
	static void registerCustomInterceptors(
			RestfulServer theServer, ApplicationContext theAppContext, List<String> theClassNames) {
		if (theClassNames == null) {
			return;
		}
		for (String className : theClassNames) {
			if (StringUtils.isBlank(className)) {
				continue;
			}
			Class<?> clazz;
			try {
				clazz = Class.forName(className.trim());
			} catch (ClassNotFoundException e) {
				throw new ConfigurationException("Interceptor class was not found on classpath: " + className, e);
			}
			Object interceptor = null;
			try {
				interceptor = theAppContext.getBean(clazz);
				ourLog.info("registering custom interceptor as bean: {}", className);
			} catch (NoSuchBeanDefinitionException e) {
				// not a bean (or not a unique one): instantiated below, like the starter does
			}
			if (interceptor == null) {
				try {
					interceptor = clazz.getConstructor().newInstance();
					ourLog.info("registering custom interceptor as pojo: {}", className);
				} catch (Exception e) {
					throw new ConfigurationException("Unable to instantiate interceptor class : " + className, e);
				}
			}
			theServer.registerInterceptor(interceptor);
		}
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServletRegistration(RestfulServer theServer) {
		ServletRegistrationBean<RestfulServer> retVal = new ServletRegistrationBean<>(theServer, "/fhir/*");
		retVal.setName("fhirServlet");
		retVal.setLoadOnStartup(1);
		return retVal;
	}
}

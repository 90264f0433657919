package fr.tddui.hapiplugin;

import ca.uhn.fhir.batch2.model.JobDefinition;
import ca.uhn.fhir.batch2.coordinator.JobDefinitionRegistry;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirResourceDao;
import ca.uhn.fhir.jpa.dao.data.IResourceTagDao;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.SearchParameter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.ApplicationContext;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

import java.util.List;

/**
 * With tags stored INLINE, HAPI indexes {@code _tag}, {@code _profile} and {@code _security} only
 * through SearchParameters of those codes, which it does not create itself. Without the {@code _tag}
 * one, every conditional URL of the gateway ({@code Patient?identifier=…&_tag=<legal entity>})
 * would match nothing and store duplicates; so they are written (idempotent updates with fixed ids)
 * before the server takes requests, and start-up fails if that is not possible.
 */
@Component
public class InlineTagSearchParameters implements SmartLifecycle {

	private static final Logger ourLog = LoggerFactory.getLogger(InlineTagSearchParameters.class);
	/** Before our launcher's package installer and far before the web server (DEFAULT_PHASE - 1). */
	static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 8192;

	private record MetaSearchParameter(String id, String code, Enumerations.SearchParamType type, String element) {}

	private static final List<MetaSearchParameter> META_PARAMETERS = List.of(
			new MetaSearchParameter("tddui-inline-tag", "_tag", Enumerations.SearchParamType.TOKEN, "tag"),
			new MetaSearchParameter("tddui-inline-profile", "_profile", Enumerations.SearchParamType.URI, "profile"),
			new MetaSearchParameter("tddui-inline-security", "_security", Enumerations.SearchParamType.TOKEN, "security"));

	private final JpaStorageSettings myStorageSettings;
	private final DaoRegistry myDaoRegistry;
	private final ISearchParamRegistry mySearchParamRegistry;
	private final FhirContext myFhirContext;
	private final ApplicationContext myAppCtx;
	private final IResourceTagDao myResourceTagDao;
	private boolean myRunning;

	public InlineTagSearchParameters(JpaStorageSettings theStorageSettings, DaoRegistry theDaoRegistry,
			ISearchParamRegistry theSearchParamRegistry, FhirContext theFhirContext, ApplicationContext theAppCtx,
			IResourceTagDao theResourceTagDao) {
		myStorageSettings = theStorageSettings;
		myDaoRegistry = theDaoRegistry;
		mySearchParamRegistry = theSearchParamRegistry;
		myFhirContext = theFhirContext;
		myAppCtx = theAppCtx;
		myResourceTagDao = theResourceTagDao;
	}

	@Override
	public void start() {
		myRunning = true;
		if (myStorageSettings.getTagStorageMode() != JpaStorageSettings.TagStorageModeEnum.INLINE) {
			return;
		}
		// A database written in another tag storage mode keeps its tags in HAPI's tag tables, which INLINE
		// never reads: every stored record would become invisible to _tag, and the gateway's conditional
		// URLs would create a second copy of each. Refuse to start rather than duplicate health data.
		long tagRows = myResourceTagDao.count();
		if (tagRows > 0) {
			throw new IllegalStateException("tddui.hapi.tag-storage-mode is INLINE but this database holds " + tagRows
					+ " tags stored in HAPI's tag tables (another tag storage mode): the stored records would not"
					+ " match _tag, and resending them would store duplicates. Start on a new database, or keep"
					+ " this one with tddui.hapi.tag-storage-mode: VERSIONED and"
					+ " hapi.fhir.mass_ingestion_mode_enabled: false (see the README, HAPI tuned for ingestion).");
		}
		// Storing a SearchParameter starts a Batch2 REINDEX job, whose definition HAPI registers only on
		// ContextRefreshedEvent, after the lifecycle phases: register the definitions now if needed.
		JobDefinitionRegistry registry = myAppCtx.getBean(JobDefinitionRegistry.class);
		for (JobDefinition<?> definition : myAppCtx.getBeansOfType(JobDefinition.class).values()) {
			registry.addJobDefinitionIfNotRegistered(definition);
		}
		@SuppressWarnings("unchecked")
		IFhirResourceDao<SearchParameter> dao = myDaoRegistry.getResourceDao("SearchParameter");
		List<String> bases = myFhirContext.getResourceTypes().stream().sorted().toList();
		for (MetaSearchParameter parameter : META_PARAMETERS) {
			dao.update(searchParameter(parameter, bases), new SystemRequestDetails());
		}
		mySearchParamRegistry.forceRefresh();
		ourLog.info("Tags stored INLINE: SearchParameters {} active on {} resource types",
				META_PARAMETERS.stream().map(MetaSearchParameter::code).toList(), bases.size());
	}

	static SearchParameter searchParameter(MetaSearchParameter theParameter, List<String> theBases) {
		SearchParameter retVal = new SearchParameter();
		retVal.setId("SearchParameter/" + theParameter.id());
		retVal.setUrl("https://github.com/tddui-gateway/SearchParameter/" + theParameter.id());
		retVal.setName(theParameter.id());
		retVal.setStatus(Enumerations.PublicationStatus.ACTIVE);
		retVal.setDescription("Resource.meta." + theParameter.element() + ", indexed for tags stored INLINE");
		retVal.setCode(theParameter.code());
		retVal.setType(theParameter.type());
		retVal.setExpression("meta." + theParameter.element());
		theBases.forEach(retVal::addBase);
		return retVal;
	}

	@Override
	public void stop() {
		myRunning = false;
	}

	@Override
	public boolean isRunning() {
		return myRunning;
	}

	@Override
	public int getPhase() {
		return PHASE;
	}
}

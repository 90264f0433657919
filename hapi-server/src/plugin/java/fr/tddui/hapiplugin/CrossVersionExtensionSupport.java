package fr.tddui.hapiplugin;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.ElementDefinition;
import org.hl7.fhir.r4.model.StructureDefinition;
import org.hl7.fhir.r4.model.UriType;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The R5 cross-version extensions the profiles use
 * ({@code http://hl7.org/fhir/5.0/StructureDefinition/extension-<R5 path>}), which no package
 * defines: each definition is R4's Extension with that url fixed, {@code value[x]} of the R5
 * element's type and no sub-extension, built in the validation support chain so the validator
 * checks them instead of reporting them missing. The gateway builds the very same definitions
 * from its IG-version descriptor ({@code [cross_version]}; a test keeps both lists equal).
 */
public class CrossVersionExtensionSupport implements IValidationSupport {

	private static final String R4_EXTENSION = "http://hl7.org/fhir/StructureDefinition/Extension";

	private final FhirContext myFhirContext;
	private final Map<String, String> myTypes;
	private final Map<String, StructureDefinition> myBuilt = new ConcurrentHashMap<>();

	public CrossVersionExtensionSupport(FhirContext theFhirContext, Map<String, String> theTypes) {
		myFhirContext = theFhirContext;
		myTypes = Map.copyOf(theTypes);
	}

	@Override
	public FhirContext getFhirContext() {
		return myFhirContext;
	}

	@Override
	public String getName() {
		return "TDDUI cross-version extensions";
	}

	@Override
	public IBaseResource fetchStructureDefinition(String theUrl) {
		String url = theUrl == null ? null : theUrl.split("\\|")[0];
		if (url == null || !myTypes.containsKey(url)) {
			return null;
		}
		return myBuilt.computeIfAbsent(url, this::build);
	}

	private StructureDefinition build(String theUrl) {
		StructureDefinition base = (StructureDefinition)
				new DefaultProfileValidationSupport(myFhirContext).fetchStructureDefinition(R4_EXTENSION);
		StructureDefinition definition = base.copy();
		String name = theUrl.substring(theUrl.lastIndexOf('/') + 1);
		definition.setId(name);
		definition.setUrl(theUrl);
		definition.setName(name);
		definition.setTitle(null);
		definition.setAbstract(false);
		definition.setDerivation(StructureDefinition.TypeDerivationRule.CONSTRAINT);
		definition.setBaseDefinition(R4_EXTENSION);
		definition.setContext(List.of(new StructureDefinition.StructureDefinitionContextComponent()
				.setType(StructureDefinition.ExtensionContextType.ELEMENT).setExpression("Element")));
		definition.setDifferential(null);
		for (ElementDefinition element : definition.getSnapshot().getElement()) {
			switch (element.getId()) {
				case "Extension.extension" -> element.setMax("0");
				case "Extension.url" -> element.setFixed(new UriType(theUrl));
				case "Extension.value[x]" -> {
					element.setMin(1);
					element.setType(List.of(new ElementDefinition.TypeRefComponent().setCode(myTypes.get(theUrl))));
				}
				default -> { }
			}
		}
		return definition;
	}
}

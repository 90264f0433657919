package fr.tddui.hapiplugin;

import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.context.EnvironmentAware;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

import java.util.Locale;

/**
 * Applies {@code tddui.hapi.tag-storage-mode} to HAPI's {@link JpaStorageSettings}, which the
 * official starter has no key for. A bean post-processor, so it works on the settings bean of the
 * official image and of our launcher alike.
 *
 * <p>Why INLINE: in mass ingestion mode HAPI skips updating the tags and profiles of a resource
 * that already has some, so a patient first stored as TDDUIPatient and sent again with its INS
 * would keep the old profile. INLINE keeps tags and profiles in the stored body, where every
 * update replaces them and the body hash sees their change. See {@link InlineTagSearchParameters}.
 */
@Component
public class TagStorageModeSetting implements BeanPostProcessor, EnvironmentAware {

	static final String KEY = "tddui.hapi.tag-storage-mode";
	private static final Logger ourLog = LoggerFactory.getLogger(TagStorageModeSetting.class);

	private JpaStorageSettings.TagStorageModeEnum myMode;

	@Override
	public void setEnvironment(Environment theEnvironment) {
		String value = theEnvironment.getProperty(KEY);
		myMode = value == null || value.isBlank()
				? null
				: JpaStorageSettings.TagStorageModeEnum.valueOf(value.trim().toUpperCase(Locale.ROOT));
	}

	@Override
	public Object postProcessAfterInitialization(Object theBean, String theBeanName) {
		if (myMode != null && theBean instanceof JpaStorageSettings settings) {
			settings.setTagStorageMode(myMode);
			ourLog.info("Tag storage mode {} ({}), mass ingestion mode {}", myMode, KEY, settings.isMassIngestionMode());
		}
		return theBean;
	}
}

package fr.tddui.hapiplugin;

import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Configuration;

/**
 * Entry point of the plug-in for Spring: found by the component scan of
 * {@code hapi.fhir.custom-bean-packages: fr.tddui.hapiplugin}, it binds {@code tddui.hapi.*}.
 * The interceptor itself ({@link TolerantRequestValidatingInterceptor}) is found by the same scan
 * and registered on the RestfulServer through {@code hapi.fhir.custom-interceptor-classes}.
 */
@Configuration
@EnableConfigurationProperties(TdduiValidationProperties.class)
public class TdduiValidationPluginConfig {}

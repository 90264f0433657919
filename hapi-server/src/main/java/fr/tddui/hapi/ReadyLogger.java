package fr.tddui.hapi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.context.WebServerApplicationContext;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

import java.lang.management.ManagementFactory;

/** Logs one line once the server accepts requests: port and installed FHIR packages. */
@Component
public class ReadyLogger {

	private static final Logger ourLog = LoggerFactory.getLogger(ReadyLogger.class);

	private final PackageStartupInstaller myInstaller;

	public ReadyLogger(PackageStartupInstaller theInstaller) {
		myInstaller = theInstaller;
	}

	@EventListener
	public void onReady(ApplicationReadyEvent theEvent) {
		int port = -1;
		if (theEvent.getApplicationContext() instanceof WebServerApplicationContext web) {
			port = web.getWebServer().getPort();
		}
		long uptime = ManagementFactory.getRuntimeMXBean().getUptime();
		ourLog.info("TDDUI HAPI ready on port {} (FHIR base http://localhost:{}/fhir, started in {} ms): packages {}",
				port, port, uptime, String.join(", ", myInstaller.getInstalledPackages()));
	}
}

# The official HAPI FHIR image, unchanged, plus a compiled readiness probe.
# The image is distroless (no shell, no curl) and ships a JRE that cannot run
# a .java source file, so the probe is compiled here and run by the image's
# own Java.
FROM eclipse-temurin:21.0.5_11-jdk AS probe
COPY HapiReady.java /src/HapiReady.java
RUN javac --release 17 -d /out /src/HapiReady.java

FROM hapiproject/hapi:v8.8.0-1
COPY --from=probe /out/HapiReady.class /app/healthcheck/HapiReady.class

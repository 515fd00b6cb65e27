# The Airflow image the compose file runs: the official 3.3.2 image plus the pinned requirements and this provider.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml README.md /opt/ess/
COPY --chown=airflow:root plugins /opt/ess/plugins
COPY --chown=airflow:root ess_emulator /opt/ess/ess_emulator
RUN pip install --no-cache-dir -r /opt/ess/requirements.txt -c /opt/ess/constraints.txt \
 && pip install --no-cache-dir --no-deps /opt/ess

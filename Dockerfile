FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scim_server ./scim_server
COPY audit ./audit
RUN pip install --no-cache-dir .
ENV SCIMTRAIL_LOG_FORMAT=json
EXPOSE 8000
CMD ["scimtrail", "serve", "--host", "0.0.0.0", "--port", "8000"]

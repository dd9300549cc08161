# One image for every role: `worker`, `api`, `migrate`, `setup-temporal` (the command picks the role).
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
# Production dependencies only; tsx runs the TypeScript sources, the worker bundles workflows at start.
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY migrations ./migrations

USER node
EXPOSE 3000
ENTRYPOINT ["node", "--import", "tsx", "bin/cli.ts"]
CMD ["api"]

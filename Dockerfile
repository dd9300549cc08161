# One image for every role: `worker`, `api`, `migrate`, `setup-temporal` (the command picks the role).
# Two stages: the build compiles the TypeScript and bundles the workflows (`npm run build`); the
# runtime has production dependencies, the compiled dist/ and migrations/, and runs plain Node.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
# `dev`'s sandbox fakes: compiled with the CLI (never loaded by the production roles).
COPY test/fakes ./test/fakes
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY migrations ./migrations
# dist/workflow-bundle.js is the worker's prebuilt workflow bundle: no bundling at start.
COPY --from=build /app/dist ./dist

USER node
EXPOSE 3000
ENTRYPOINT ["node", "dist/bin/cli.js"]
CMD ["api"]

/**
 * Policy texts several unit tests share. `TAGGED_DOCKER_IO_POLICY`: docker.io only, every image
 * there allowed by tag (no digest needed), everything else denied.
 */
export const TAGGED_DOCKER_IO_POLICY = `apiVersion: imagegate/v1
kind: Policy
registries: [docker.io]
rules:
  - name: tagged
    images: ["docker.io/**"]
    requireDigest: false
`;

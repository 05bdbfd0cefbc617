import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'examples/*/dist/**', 'examples/*/node_modules/**', 'public/js/**', 'coverage/**', '.tap/**', 'node_modules/**'] }),
]

import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'public/js/**', 'coverage/**', '.tap/**', 'node_modules/**'] }),
]
